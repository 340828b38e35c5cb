import Foundation

/// Everything needed to create a product; the id is assigned by PostgreSQL unless given.
public struct NewProduct: Sendable, Hashable {
    public var id: Int64?
    public var sku: String
    public var categoryID: Int64
    public var status: ProductStatus
    public var createdAt: Date?
    public var document: ProductDocument

    public init(
        id: Int64? = nil, sku: String, categoryID: Int64, status: ProductStatus = .active, createdAt: Date? = nil,
        document: ProductDocument
    ) {
        self.id = id
        self.sku = sku
        self.categoryID = categoryID
        self.status = status
        self.createdAt = createdAt
        self.document = document
    }

    /// The full stored document, as a create `$set`s it.
    func storedDocument() -> [String: JSONValue] {
        var set: [String: JSONValue] = ["category_id": .int(categoryID), "status": .string(status.rawValue)]
        for field in ProductDocument.Field.allCases {
            for (key, value) in document.storedValues(of: field) { set[key] = value }
        }
        return set
    }
}
