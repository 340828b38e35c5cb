/// A product document as MongoDB stores it: the document fields plus the mirrored relational
/// fields (`category_id`, `status`) that price-sorted listings filter on, and the `version` of
/// the last change applied.
public struct StoredDocument: Sendable, Hashable {
    public var id: Int64
    public var version: Int64
    public var categoryID: Int64?
    public var status: ProductStatus?
    public var document: ProductDocument

    /// Reads the stored fields; `nil` when a required field is missing or of the wrong type.
    init?(fields: [String: JSONValue]) {
        guard case .int(let id) = fields["_id"],
            case .string(let name) = fields["name"],
            case .string(let priceText) = fields["price"], let price = Price(priceText),
            case .string(let currency) = fields["currency"]
        else { return nil }
        self.id = id
        if case .int(let version) = fields["version"] { self.version = version } else { self.version = 0 }
        if case .int(let category) = fields["category_id"] { categoryID = category }
        if case .string(let status) = fields["status"] { self.status = ProductStatus(rawValue: status) }
        var description = ""
        if case .string(let text) = fields["description"] { description = text }
        var attributes: [String: JSONValue] = [:]
        if case .object(let values) = fields["attributes"] { attributes = values }
        var images: [String] = []
        if case .array(let values) = fields["images"] {
            images = values.compactMap { if case .string(let url) = $0 { url } else { nil } }
        }
        document = ProductDocument(
            name: name, description: description, price: price, currency: currency, attributes: attributes,
            images: images)
    }
}
