import Foundation
import PostgresNIO

/// The product columns every product query selects, in this order.
let productColumns = "p.id, p.sku, p.category_id, p.status, p.created_at, p.updated_at, p.version"

extension ProductRow {
    /// Builds a row from the optional columns of an outer join; `nil` when the join found none.
    init?(
        id: Int64?, sku: String?, categoryID: Int64?, status: String?, createdAt: Date?, updatedAt: Date?,
        version: Int64?
    ) {
        guard let id, let sku, let categoryID, let status, let createdAt, let updatedAt, let version,
            let parsedStatus = ProductStatus(rawValue: status)
        else { return nil }
        self.init(
            id: id, sku: sku, categoryID: categoryID, status: parsedStatus, createdAt: createdAt,
            updatedAt: updatedAt, version: version)
    }
}

typealias OptionalProductColumns = (Int64?, String?, Int64?, String?, Date?, Date?, Int64?)
typealias ProductColumns = (Int64, String, Int64, String, Date, Date, Int64)

extension ProductRow {
    init(columns c: ProductColumns) {
        self.init(
            id: c.0, sku: c.1, categoryID: c.2, status: ProductStatus(rawValue: c.3) ?? .draft, createdAt: c.4,
            updatedAt: c.5, version: c.6)
    }
}
