import Foundation
import PostgresNIO

/// Loads products by id: one SQL query for the rows and one MongoDB `$in` for the documents,
/// however many ids.
public struct ProductLoader: Sendable {
    /// The most ids one multi-get may ask for.
    public static let maximumIDs = 100

    let catalog: HybridCatalog
    let fetcher: DocumentFetcher

    public init(catalog: HybridCatalog, mode: LoadingMode = .batch) {
        self.catalog = catalog
        self.fetcher = DocumentFetcher(mongo: catalog.mongo, mode: mode)
    }

    /// The storefront's product detail: active products only.
    public func product(id: Int64, includeInactive: Bool = false) async throws -> Product {
        guard let product = try await products(ids: [id], includeInactive: includeInactive)[id] else {
            throw HybridError.productNotFound(id)
        }
        return product
    }

    /// The product of a row just written (its relational fields known), with its document: one
    /// MongoDB round trip. If MongoDB holds another version (a later write overtook this one) the
    /// product is read as any reader would, latest row and latest document.
    public func product(row: ProductRow) async throws -> Product {
        let document: StoredDocument?
        do {
            document = try await catalog.mongo.document(id: row.id)
        } catch let error as MongoError {
            throw error.hybridError
        }
        if let document, document.version == row.version { return Product(row: row, document: document.document) }
        return try await product(id: row.id, includeInactive: true)
    }

    /// The products that exist (and are active, unless `includeInactive`), keyed by id; missing
    /// ids are absent.
    public func products(ids: [Int64], includeInactive: Bool = false) async throws -> [Int64: Product] {
        guard !ids.isEmpty else { return [:] }
        guard ids.count <= Self.maximumIDs * 10 else {
            throw HybridError.invalidInput("at most \(Self.maximumIDs * 10) ids can be loaded at once")
        }
        let rows = try await catalog.readSQL(
            """
            SELECT \(unescaped: productColumns) FROM products p
            WHERE p.id = ANY(\(ids)) AND (\(includeInactive) OR p.status = 'active')
            """)
        var found: [ProductRow] = []
        for row in rows { found.append(ProductRow(columns: try row.decode(ProductColumns.self))) }
        var byID: [Int64: Product] = [:]
        for product in try await fetcher.products(for: found) { byID[product.id] = product }
        return byID
    }
}
