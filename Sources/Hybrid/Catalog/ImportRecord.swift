import Foundation

/// One product of the interchange format (JSON Lines, one product per line), with its category.
public struct ImportRecord: Sendable, Hashable {
    public struct CategoryReference: Sendable, Hashable, Decodable {
        public var id: Int64
        public var slug: String
        public var name: String

        public init(id: Int64, slug: String, name: String) {
            self.id = id
            self.slug = slug
            self.name = name
        }
    }

    public var product: NewProduct
    public var category: CategoryReference

    public init(product: NewProduct, category: CategoryReference) {
        self.product = product
        self.category = category
    }

    public var id: Int64 { product.id ?? 0 }
}

extension ImportRecord: Decodable {
    enum CodingKeys: String, CodingKey {
        case id, sku, category, status, name, description, price, currency, attributes, images
        case createdAt = "created_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let id = try container.decode(Int64.self, forKey: .id)
        let category = try container.decode(CategoryReference.self, forKey: .category)
        let createdText = try container.decodeIfPresent(String.self, forKey: .createdAt)
        var createdAt: Date?
        if let createdText {
            guard let date = ImportRecord.parseTimestamp(createdText) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .createdAt, in: container,
                    debugDescription: "'\(createdText)' is not an ISO 8601 timestamp such as 2024-03-05T12:34:56Z")
            }
            createdAt = date
        }
        let document = ProductDocument(
            name: try container.decode(String.self, forKey: .name),
            description: try container.decodeIfPresent(String.self, forKey: .description) ?? "",
            price: try container.decode(Price.self, forKey: .price),
            currency: try container.decode(String.self, forKey: .currency),
            attributes: try container.decodeIfPresent([String: JSONValue].self, forKey: .attributes) ?? [:],
            images: try container.decodeIfPresent([String].self, forKey: .images) ?? [])
        product = NewProduct(
            id: id, sku: try container.decode(String.self, forKey: .sku), categoryID: category.id,
            status: try container.decodeIfPresent(ProductStatus.self, forKey: .status) ?? .active, createdAt: createdAt,
            document: document)
        self.category = category
    }

    static func parseTimestamp(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601) { return date }
        let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return try? fractional.parse(text)
    }
}

extension ImportRecord {
    /// The record as one line of the interchange format (no trailing newline).
    public func jsonLine() -> [UInt8] {
        var writer = JSONWriter(capacity: 512)
        writer.beginObject()
        writer.key("id")
        writer.int(id)
        writer.key("sku")
        writer.string(product.sku)
        writer.key("category")
        writer.beginObject()
        writer.key("id")
        writer.int(category.id)
        writer.key("slug")
        writer.string(category.slug)
        writer.key("name")
        writer.string(category.name)
        writer.endObject()
        writer.key("status")
        writer.string(product.status.rawValue)
        if let createdAt = product.createdAt {
            writer.key("created_at")
            writer.string(createdAt.formatted(.iso8601))
        }
        writer.key("name")
        writer.string(product.document.name)
        writer.key("description")
        writer.string(product.document.description)
        writer.key("price")
        writer.string(product.document.price.description)
        writer.key("currency")
        writer.string(product.document.currency)
        writer.key("attributes")
        writer.value(.object(product.document.attributes))
        writer.key("images")
        writer.value(.array(product.document.images.map { .string($0) }))
        writer.endObject()
        return writer.bytes
    }
}
