import Hybrid
import TestSupport
import Testing

@Suite struct ProductLoaderTests {
    @Test func multiGetCostsTwoQueriesAndLeavesOutMissingIDs() async throws {
        try await TestCatalog.with { test in
            let generator = CatalogGenerator(categories: 2, perCategory: 30)
            try await test.seed(generator)
            let loader = ProductLoader(catalog: test.catalog)
            let active = generator.filter { $0.product.status == .active }.prefix(25).map(\.id)
            let sqlBefore = test.stats.sqlQueries
            let mongoBefore = test.stats.mongoOperations
            let found = try await loader.products(ids: active + [9_999, 10_000])
            #expect(test.stats.sqlQueries - sqlBefore == 1)
            #expect(test.stats.mongoOperations - mongoBefore == 1)
            #expect(Set(found.keys) == Set(active))
            #expect(found[active[0]]?.name == generator.product(id: active[0]).product.document.name)
            await #expect(throws: HybridError.productNotFound(9_999)) { try await loader.product(id: 9_999) }
        }
    }

    @Test func inactiveProductsAreHiddenFromTheStorefront() async throws {
        try await TestCatalog.with { test in
            let generator = CatalogGenerator(categories: 1, perCategory: 10)
            try await test.seed(generator)
            _ = try await test.writer().update(id: 3, changes: ProductChanges(status: .draft))
            let loader = ProductLoader(catalog: test.catalog)
            await #expect(throws: HybridError.productNotFound(3)) { try await loader.product(id: 3) }
            #expect(try await loader.product(id: 3, includeInactive: true).status == .draft)
            let page = try await CategoryPageLoader(catalog: test.catalog).load(
                categoryID: 1, request: PageRequest(perPage: 100))
            #expect(!page.items.contains { $0.id == 3 })
        }
    }

    @Test func aWrittenRowIsAnsweredWithItsDocumentInOneMongoRoundTripAndNeverMixedWithAnotherVersion() async throws {
        try await TestCatalog.with { test in
            try await test.seed(CatalogGenerator(categories: 1, perCategory: 5))
            let first = try await test.writer().update(id: 2, changes: ProductChanges(name: "First"))
            let row = try #require(first.row)
            let loader = ProductLoader(catalog: test.catalog)
            let sqlBefore = test.stats.sqlQueries
            let mongoBefore = test.stats.mongoOperations
            let answered = try await loader.product(row: row)
            #expect(answered.name == "First" && answered.version == row.version)
            #expect(test.stats.sqlQueries == sqlBefore)
            #expect(test.stats.mongoOperations - mongoBefore == 1)
            // A later write overtook the row: the answer is the product as it now is, whole.
            _ = try await test.writer().update(id: 2, changes: ProductChanges(name: "Second"))
            let overtaken = try await loader.product(row: row)
            #expect(overtaken.name == "Second" && overtaken.version == row.version + 1)
        }
    }
}
