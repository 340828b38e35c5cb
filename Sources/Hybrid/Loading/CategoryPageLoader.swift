import Foundation
import PostgresNIO

/// Loads one page of a category listing in two queries, whatever the page size and sort.
///
/// One SQL query returns the category's existence, its active-product count and the page's rows
/// in order, from an index with no sort step: (category_id, status, created_at, id) for `newest`,
/// (category_id, status, price_e4, id) for the price sorts (forwards or backwards). Then one
/// MongoDB `$in` by id fetches the documents. PostgreSQL is the authority on which products are
/// active and in what order.
///
/// Prices on a listing come from PostgreSQL's copy (`price_e4`, written in the transaction of the
/// write), the copy the order was taken from: while MongoDB lags behind a write (a 202), the page's
/// order and its prices still agree; the product's detail shows MongoDB's price until the outbox
/// delivers the change.
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
        let rows = try await catalog.readSQL(Self.query(categoryID: categoryID, request: request))
        var exists = false
        var total: Int64 = 0
        var pageRows: [ProductRow] = []
        var prices: [Int64: Int64] = [:]
        pageRows.reserveCapacity(request.perPage)
        for row in rows {
            let c = try row.decode((Bool, Int64, Int64?, String?, Int64?, String?, Date?, Date?, Int64?, Int64?).self)
            exists = c.0
            total = c.1
            if let row = ProductRow(
                id: c.2, sku: c.3, categoryID: c.4, status: c.5, createdAt: c.6, updatedAt: c.7, version: c.8)
            {
                pageRows.append(row)
                if let price = c.9, price >= 0 { prices[row.id] = price }
            }
        }
        guard exists else { throw HybridError.categoryNotFound(categoryID) }
        // The index gave the page in order; the join around it need not keep that order, so the
        // page's rows (at most 100) are put back in it here rather than by a sort in the plan.
        pageRows.sort { a, b in
            switch request.sort {
            case .newest: (a.createdAt, a.id) > (b.createdAt, b.id)
            case .priceAscending: (prices[a.id] ?? 0, a.id) < (prices[b.id] ?? 0, b.id)
            case .priceDescending: (prices[a.id] ?? 0, a.id) > (prices[b.id] ?? 0, b.id)
            }
        }
        let items = try await fetcher.products(for: pageRows).map { product in
            guard let price = prices[product.id], price != product.document.price.scaledValue else { return product }
            var document = product.document
            document.price = Price(scaledValue: price)
            return Product(row: product.row, document: document)
        }
        return CategoryPage(
            categoryID: categoryID, page: request.page, perPage: request.perPage, sort: request.sort, total: total,
            items: items, rowIDs: pageRows.map(\.id),
            priceRange: Self.priceRange(of: pageRows.map { prices[$0.id] ?? 0 }, request: request))
    }

    /// What price changes can alter a price-sorted page: a change from `a` to `b` moves only the
    /// products priced between them, so a page whose prices lie wholly outside that interval keeps
    /// its rows. A page shorter than `perPage` (the last) is open towards the end of the order; an
    /// empty one is open both ways.
    static func priceRange(of prices: [Int64], request: PageRequest) -> ClosedRange<Int64>? {
        guard request.sort != .newest else { return nil }
        let highest = CatalogTag.highestBound
        guard let low = prices.min(), let high = prices.max() else { return 0...highest }
        guard prices.count < request.perPage else { return low...high }
        return request.sort == .priceAscending ? low...highest : 0...high
    }

    /// The page's query: existence, count and rows in one round trip (public for `EXPLAIN`).
    public static func query(categoryID: Int64, request: PageRequest) -> PostgresQuery {
        let order: String
        switch request.sort {
        case .newest: order = "p.created_at DESC, p.id DESC"
        case .priceAscending: order = "p.price_e4 ASC, p.id ASC"
        case .priceDescending: order = "p.price_e4 DESC, p.id DESC"
        }
        return """
            WITH page AS (
                SELECT \(unescaped: productColumns), p.price_e4 FROM products p
                WHERE p.category_id = \(categoryID) AND p.status = 'active'
                ORDER BY \(unescaped: order)
                LIMIT \(request.perPage) OFFSET \(request.offset)
            )
            SELECT
                EXISTS (SELECT 1 FROM categories WHERE id = \(categoryID)),
                (SELECT count(*) FROM products WHERE category_id = \(categoryID) AND status = 'active'),
                page.id, page.sku, page.category_id, page.status, page.created_at, page.updated_at, page.version,
                page.price_e4
            FROM (SELECT 1) AS one LEFT JOIN page ON true
            """
    }
}
