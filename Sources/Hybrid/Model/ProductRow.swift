import Foundation

/// The relational part of a product, as PostgreSQL holds it.
///
/// PostgreSQL is the authority for a product's existence, category, status and `version`; every
/// write bumps `version` in the same transaction that records the change in the outbox.
public struct ProductRow: Sendable, Hashable {
    public var id: Int64
    public var sku: String
    public var categoryID: Int64
    public var status: ProductStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int64

    public init(
        id: Int64, sku: String, categoryID: Int64, status: ProductStatus, createdAt: Date, updatedAt: Date,
        version: Int64
    ) {
        self.id = id
        self.sku = sku
        self.categoryID = categoryID
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.version = version
    }
}
