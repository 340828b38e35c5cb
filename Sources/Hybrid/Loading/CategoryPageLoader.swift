import Foundation
import PostgresNIO

/// Loads one page of a category listing in two queries, whatever the page size.
///
/// `newest`: one SQL query returns the category's existence, its active-product count and the
/// page's rows (from the (category_id, status, created_at, id) index), then one MongoDB `$in`
/// fetches the documents. Price sorts run the other way round: MongoDB's (category_id, status,
/// price_e4, _id) index gives the page's documents, then one SQL query gives their rows, the count
/// and the category's existence. PostgreSQL stays the authority on which products are active.
public struct CategoryPageLoader: Sendable {
    let catalog: HybridCatalog
    let fetcher: DocumentFetcher

    public init(catalog: HybridCatalog, mode: LoadingMode = .batch) {
        self.catalog = catalog
        self.fetcher = DocumentFetcher(mongo: catalog.mongo, mode: mode)
    }

    /// - Throws: `HybridError.categoryNotFound` for an unknown category; an empty page past the
    ///   end is not an error.
    public func load(categoryID: Int64, request: PageRequest) async throws -> CategoryPage {
        switch request.sort {
        case .newest: try await loadNewest(categoryID: categoryID, request: request)
        case .priceAscending, .priceDescending: try await loadByPrice(categoryID: categoryID, request: request)
        }
    }

    private func loadNewest(categoryID: Int64, request: PageRequest) async throws -> CategoryPage {
        let rows = try await catalog.sql(
            """
            WITH page AS (
                SELECT \(unescaped: productColumns) FROM products p
                WHERE p.category_id = \(categoryID) AND p.status = 'active'
                ORDER BY p.created_at DESC, p.id DESC
                LIMIT \(request.perPage) OFFSET \(request.offset)
            )
            SELECT
                EXISTS (SELECT 1 FROM categories WHERE id = \(categoryID)),
                (SELECT count(*) FROM products WHERE category_id = \(categoryID) AND status = 'active'),
                page.id, page.sku, page.category_id, page.status, page.created_at, page.updated_at, page.version
            FROM (SELECT 1) AS one LEFT JOIN page ON true
            ORDER BY page.created_at DESC, page.id DESC
            """)
        var exists = false
        var total: Int64 = 0
        var pageRows: [ProductRow] = []
        pageRows.reserveCapacity(request.perPage)
        for try await c in rows.decode((Bool, Int64, Int64?, String?, Int64?, String?, Date?, Date?, Int64?).self) {
            exists = c.0
            total = c.1
            if let row = ProductRow(
                id: c.2, sku: c.3, categoryID: c.4, status: c.5, createdAt: c.6, updatedAt: c.7, version: c.8)
            {
                pageRows.append(row)
            }
        }
        guard exists else { throw HybridError.categoryNotFound(categoryID) }
        let items = try await fetcher.products(for: pageRows)
        return CategoryPage(
            categoryID: categoryID, page: request.page, perPage: request.perPage, sort: request.sort, total: total,
            items: items)
    }

    private func loadByPrice(categoryID: Int64, request: PageRequest) async throws -> CategoryPage {
        let documents: [StoredDocument]
        do {
            documents = try await catalog.mongo.pageByPrice(
                categoryID: categoryID, ascending: request.sort == .priceAscending, skip: request.offset,
                limit: request.perPage, idsOnly: fetcher.mode == .perObject)
        } catch let error as MongoError {
            throw error.hybridError
        }
        let ids = documents.map(\.id)
        let rows = try await catalog.sql(
            """
            SELECT
                EXISTS (SELECT 1 FROM categories WHERE id = \(categoryID)),
                (SELECT count(*) FROM products WHERE category_id = \(categoryID) AND status = 'active'),
                \(unescaped: productColumns)
            FROM (SELECT 1) AS one
            LEFT JOIN products p ON p.id = ANY(\(ids)) AND p.category_id = \(categoryID) AND p.status = 'active'
            """)
        var exists = false
        var total: Int64 = 0
        var rowsByID: [Int64: ProductRow] = [:]
        for try await c in rows.decode((Bool, Int64, Int64?, String?, Int64?, String?, Date?, Date?, Int64?).self) {
            exists = c.0
            total = c.1
            if let row = ProductRow(
                id: c.2, sku: c.3, categoryID: c.4, status: c.5, createdAt: c.6, updatedAt: c.7, version: c.8)
            {
                rowsByID[row.id] = row
            }
        }
        guard exists else { throw HybridError.categoryNotFound(categoryID) }
        let items: [Product]
        switch fetcher.mode {
        case .batch:
            items = documents.compactMap { stored in
                rowsByID[stored.id].map { Product(row: $0, document: stored.document) }
            }
        case .perObject:
            items = try await fetcher.products(for: ids.compactMap { rowsByID[$0] })
        }
        return CategoryPage(
            categoryID: categoryID, page: request.page, perPage: request.perPage, sort: request.sort, total: total,
            items: items)
    }
}
