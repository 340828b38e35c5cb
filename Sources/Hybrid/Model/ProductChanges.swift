/// A partial update of a product: `nil` leaves a field as it is.
public struct ProductChanges: Sendable, Hashable {
    public var sku: String?
    public var categoryID: Int64?
    public var status: ProductStatus?
    public var name: String?
    public var description: String?
    public var price: Price?
    public var currency: String?
    public var attributes: [String: JSONValue]?
    public var images: [String]?

    /// Changes something a listing item shows (the description and the relational fields are not
    /// in listing items; a move or status change is a change of membership instead).
    public var changesListingItem: Bool {
        sku != nil || name != nil || price != nil || currency != nil || attributes != nil || images != nil
    }

    public init(
        sku: String? = nil, categoryID: Int64? = nil, status: ProductStatus? = nil, name: String? = nil,
        description: String? = nil, price: Price? = nil, currency: String? = nil,
        attributes: [String: JSONValue]? = nil, images: [String]? = nil
    ) {
        self.sku = sku
        self.categoryID = categoryID
        self.status = status
        self.name = name
        self.description = description
        self.price = price
        self.currency = currency
        self.attributes = attributes
        self.images = images
    }

    public var isEmpty: Bool { self == ProductChanges() }

    /// The document fields this update `$set`s, in their stored representation.
    func documentSet() -> [String: JSONValue] {
        var set: [String: JSONValue] = [:]
        if let name { set["name"] = .string(name) }
        if let description { set["description"] = .string(description) }
        if let price {
            set["price"] = .string(price.description)
            set["price_e4"] = .int(price.scaledValue)
        }
        if let currency { set["currency"] = .string(currency) }
        if let attributes { set["attributes"] = .object(attributes) }
        if let images { set["images"] = .array(images.map { .string($0) }) }
        if let categoryID { set["category_id"] = .int(categoryID) }
        if let status { set["status"] = .string(status.rawValue) }
        return set
    }
}
