/// The document part of a product, as MongoDB holds it.
public struct ProductDocument: Sendable, Hashable {
    /// The document fields a save can `$set` one by one.
    public enum Field: String, Sendable, Hashable, CaseIterable, Codable {
        case name
        case description
        case price
        case currency
        case attributes
        case images
    }

    public var name: String
    public var description: String
    public var price: Price
    public var currency: String
    public var attributes: [String: JSONValue]
    public var images: [String]

    public init(
        name: String, description: String, price: Price, currency: String, attributes: [String: JSONValue] = [:],
        images: [String] = []
    ) {
        self.name = name
        self.description = description
        self.price = price
        self.currency = currency
        self.attributes = attributes
        self.images = images
    }

    /// The field a key path writes, so a change through member access can be recorded.
    static func field(for keyPath: PartialKeyPath<ProductDocument>) -> Field {
        switch keyPath {
        case \ProductDocument.name: .name
        case \ProductDocument.description: .description
        case \ProductDocument.price: .price
        case \ProductDocument.currency: .currency
        case \ProductDocument.attributes: .attributes
        case \ProductDocument.images: .images
        default: preconditionFailure("ProductDocument key path \(keyPath) names no stored field")
        }
    }

    /// The stored (MongoDB) representation of one field: the price as its decimal string plus the
    /// scaled integer that the price index sorts on.
    func storedValues(of field: Field) -> [(String, JSONValue)] {
        switch field {
        case .name: [("name", .string(name))]
        case .description: [("description", .string(description))]
        case .price: [("price", .string(price.description)), ("price_e4", .int(price.scaledValue))]
        case .currency: [("currency", .string(currency))]
        case .attributes: [("attributes", .object(attributes))]
        case .images: [("images", .array(images.map { .string($0) }))]
        }
    }
}
