import Foundation
import Hybrid
import PostgresNIO
import TestSupport
import Testing

/// Listings against the real PostgreSQL and SecantusDB the scripts start.
@Suite struct CategoryPageLoaderTests {
    static let generator = CatalogGenerator(categories: 3, perCategory: 45)

    /// The active products of a category in the order a sort promises, computed from the generator.
    static func expected(category: Int64, sort: ListingSort) -> [Int64] {
        let records = generator.filter { $0.product.categoryID == category && $0.product.status == .active }
        let sorted: [ImportRecord]
        switch sort {
        case .newest:
            sorted = records.sorted {
                ($0.product.createdAt!, $0.id) > ($1.product.createdAt!, $1.id)
            }
        case .priceAscending:
            sorted = records.sorted { ($0.product.document.price, $0.id) < ($1.product.document.price, $1.id) }
        case .priceDescending:
            sorted = records.sorted { ($0.product.document.price, $0.id) > ($1.product.document.price, $1.id) }
        }
        return sorted.map(\.id)
    }

    @Test(arguments: ListingSort.allCases)
    func aPageCostsOneSQLQueryAndOneMongoQuery(sort: ListingSort) async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let loader = CategoryPageLoader(catalog: test.catalog)
            for perPage in [5, 40] {
                let sqlBefore = test.stats.sqlQueries
                let mongoBefore = test.stats.mongoOperations
                let page = try await loader.load(
                    categoryID: 2, request: PageRequest(page: 1, perPage: perPage, sort: sort))
                #expect(page.items.count == perPage)
                #expect(test.stats.sqlQueries - sqlBefore == 1)
                #expect(test.stats.mongoOperations - mongoBefore == 1)
            }
        }
    }

    /// Every sort reads its order from an index: the plan has an index scan and no Sort node (with
    /// sequential scans off, as on a catalog large enough for the planner to prefer the index).
    @Test(arguments: ListingSort.allCases)
    func everySortIsAnIndexScanWithoutASortStep(sort: ListingSort) async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let query = CategoryPageLoader.query(
                categoryID: 2, request: try PageRequest(page: 3, perPage: 10, sort: sort))
            let plan = try await test.catalog.postgres.withTransaction(logger: test.catalog.logger) { connection in
                try await connection.query("SET LOCAL enable_seqscan = off", logger: test.catalog.logger)
                let rows = try await connection.query(
                    PostgresQuery(unsafeSQL: "EXPLAIN (FORMAT JSON) " + query.sql, binds: query.binds),
                    logger: test.catalog.logger)
                var text = ""
                for try await line in rows.decode(String.self) { text += line }
                return text
            }
            let index = sort == .newest ? "products_category_newest" : "products_category_price"
            #expect(plan.contains("\"Index Name\": \"\(index)\""), "\(plan)")
            #expect(!plan.contains("\"Node Type\": \"Sort\""), "\(plan)")
            if sort == .priceDescending { #expect(plan.contains("Backward"), "\(plan)") }
        }
    }

    @Test func listingPricesComeFromTheCopyTheOrderWasTakenFrom() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            // MongoDB lags behind PostgreSQL (as while a write waits in the outbox): the page's
            // order and its prices both follow PostgreSQL's copy.
            let request = try PageRequest(page: 1, perPage: 5, sort: .priceAscending)
            let before = try await CategoryPageLoader(catalog: test.catalog).load(categoryID: 2, request: request)
            let last = try #require(before.items.last)
            try await test.catalog.postgres.query(
                "UPDATE products SET price_e4 = 0 WHERE id = \(last.id)", logger: test.catalog.logger)
            let after = try await CategoryPageLoader(catalog: test.catalog).load(categoryID: 2, request: request)
            #expect(after.items.first?.id == last.id)
            #expect(after.items.first?.price == Price(scaledValue: 0))
            let prices = after.items.map(\.price)
            #expect(prices == prices.sorted())
        }
    }

    @Test(arguments: ListingSort.allCases)
    func sortsAndPaginatesLikeTheCatalog(sort: ListingSort) async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let loader = CategoryPageLoader(catalog: test.catalog)
            let expected = Self.expected(category: 3, sort: sort)
            #expect(expected.count > 20)
            var seen: [Int64] = []
            var page = 1
            while true {
                let result = try await loader.load(
                    categoryID: 3, request: PageRequest(page: page, perPage: 20, sort: sort))
                #expect(result.total == Int64(expected.count))
                if result.items.isEmpty { break }
                seen += result.items.map(\.id)
                page += 1
            }
            #expect(seen == expected)
            // The last page is partial, the one after it is empty.
            let lastPage = (expected.count + 19) / 20
            let last = try await loader.load(
                categoryID: 3, request: PageRequest(page: lastPage, perPage: 20, sort: sort))
            #expect(last.items.count == expected.count - (lastPage - 1) * 20)
            #expect(last.pageCount == Int64(lastPage))
            let past = try await loader.load(
                categoryID: 3, request: PageRequest(page: lastPage + 5, perPage: 20, sort: sort))
            #expect(past.items.isEmpty)
            #expect(past.total == Int64(expected.count))
        }
    }

    @Test func itemsCarryBothStoresFields() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let page = try await CategoryPageLoader(catalog: test.catalog).load(
                categoryID: 1, request: PageRequest(perPage: 100))
            for item in page.items {
                let source = Self.generator.product(id: item.id)
                #expect(item.sku == source.product.sku)
                #expect(item.name == source.product.document.name)
                #expect(item.price == source.product.document.price)
                #expect(item.attributes == source.product.document.attributes)
                #expect(item.images == source.product.document.images)
                #expect(item.status == .active)
            }
        }
    }

    @Test func perObjectAndBatchModesReturnTheSameItems() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            for sort in ListingSort.allCases {
                let request = try PageRequest(page: 2, perPage: 10, sort: sort)
                let batch = try await CategoryPageLoader(catalog: test.catalog, mode: .batch).load(
                    categoryID: 1, request: request)
                let mongoBefore = test.stats.mongoOperations
                let perObject = try await CategoryPageLoader(catalog: test.catalog, mode: .perObject).load(
                    categoryID: 1, request: request)
                #expect(perObject == batch)
                // The article's path: one find_one per product (the order comes from PostgreSQL).
                #expect(test.stats.mongoOperations - mongoBefore == 10)
            }
        }
    }

    @Test func emptyAndUnknownCategories() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            _ = try await CategoryWriter(catalog: test.catalog, invalidator: test.invalidator).create(
                id: 50, slug: "empty-shelf", name: "Empty shelf")
            let loader = CategoryPageLoader(catalog: test.catalog)
            for sort in ListingSort.allCases {
                let empty = try await loader.load(categoryID: 50, request: PageRequest(sort: sort))
                #expect(empty.total == 0)
                #expect(empty.items.isEmpty)
                await #expect(throws: HybridError.categoryNotFound(999)) {
                    try await loader.load(categoryID: 999, request: PageRequest(sort: sort))
                }
            }
        }
    }

    @Test func pageRequestsOutOfRangeAreRefusedBeforeAnyQuery() {
        #expect(throws: HybridError.self) { try PageRequest(page: 0) }
        #expect(throws: HybridError.self) { try PageRequest(perPage: 0) }
        #expect(throws: HybridError.self) { try PageRequest(perPage: 101) }
    }
}
