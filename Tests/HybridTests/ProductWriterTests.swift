import Foundation
import Hybrid
import TestSupport
import Testing

@Suite struct ProductWriterTests {
    static let generator = CatalogGenerator(categories: 2, perCategory: 10)
    /// Ids of products the generator makes active (the storefront loaders see only those).
    static let active = generator.filter { $0.product.status == .active }.map(\.id)

    func newProduct(sku: String, category: Int64 = 1) -> NewProduct {
        NewProduct(
            sku: sku, categoryID: category,
            document: ProductDocument(
                name: "Test lamp", description: "Bright", price: Price("12.50")!, currency: "EUR",
                attributes: ["color": .string("teal"), "weight_g": .int(300)], images: ["https://img.example/x.jpg"]))
    }

    @Test func createWritesBothStoresAndNamesItsTags() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let result = try await test.writer().create(newProduct(sku: "NEW-1"))
            #expect(result.state == .applied)
            let row = try #require(result.row)
            #expect(row.id > 20)  // the id sequence moved past the imported ids
            #expect(row.version == 1)
            #expect(Set(result.tags) == [.product(row.id), .category(1), .categories])
            #expect(test.invalidator.calls.last.map(Set.init) == Set(result.tags))
            let stored = try #require(try await test.mongo.document(id: row.id))
            #expect(stored.version == 1)
            #expect(stored.categoryID == 1)
            #expect(stored.document.price == Price("12.50"))
            let loaded = try await ProductLoader(catalog: test.catalog).product(id: row.id)
            #expect(loaded.name == "Test lamp")
            #expect(loaded.attributes["weight_g"] == .int(300))
            let outbox = try await test.relay().pendingCount()
            #expect(outbox == 0)
        }
    }

    @Test func partialUpdateSetsOnlyTheChangedFields() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let before = try await ProductLoader(catalog: test.catalog).product(id: Self.active[3])
            var product = before
            product.name = "Renamed"
            let result = try await test.writer().save(product)
            #expect(result.state == .applied)
            #expect(result.row?.version == before.version + 1)
            let after = try await ProductLoader(catalog: test.catalog).product(id: Self.active[3])
            #expect(after.name == "Renamed")
            #expect(after.description == before.description)
            #expect(after.price == before.price)
            #expect(after.attributes == before.attributes)
            #expect(after.sku == before.sku)
            #expect(try await test.mongo.document(id: Self.active[3])?.version == before.version + 1)
        }
    }

    @Test func aStaleVersionIsRefused() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let id = Self.active[4]
            var product = try await ProductLoader(catalog: test.catalog).product(id: id)
            product.name = "First"
            _ = try await test.writer().save(product)
            product.name = "Second, from a stale copy"
            await #expect(
                throws: HybridError.versionConflict(id: id, expected: product.version, current: product.version + 1)
            ) {
                try await test.writer().save(product)
            }
            #expect(try await ProductLoader(catalog: test.catalog).product(id: id).name == "First")
        }
    }

    @Test func concurrentUpdatesWithOneVersionLetExactlyOneThrough() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let id = Self.active[5]
            let version = try await ProductLoader(catalog: test.catalog).product(id: id).version
            let writer = test.writer()
            let outcomes = await withTaskGroup(of: String?.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        do {
                            _ = try await writer.update(
                                id: id, expectedVersion: version, changes: ProductChanges(name: "Writer \(index)"))
                            return "Writer \(index)"
                        } catch HybridError.versionConflict {
                            return nil
                        } catch {
                            return "unexpected \(error)"
                        }
                    }
                }
                var names: [String?] = []
                for await outcome in group { names.append(outcome) }
                return names
            }
            let winners = outcomes.compactMap { $0 }
            #expect(winners.count == 1)
            let product = try await ProductLoader(catalog: test.catalog).product(id: id)
            #expect(product.version == version + 1)
            #expect(product.name == winners.first)
        }
    }

    @Test func moveInvalidatesBothCategoriesAndChangesBothListings() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let id = try #require(
                Self.generator.first { $0.product.categoryID == 1 && $0.product.status == .active }?.id)
            let result = try await test.writer().move(id: id, toCategory: 2)
            #expect(Set(result.tags) == [.product(id), .category(1), .category(2), .categories])
            let loader = CategoryPageLoader(catalog: test.catalog)
            let first = try await loader.load(categoryID: 1, request: PageRequest(perPage: 100))
            let second = try await loader.load(categoryID: 2, request: PageRequest(perPage: 100))
            #expect(!first.items.contains { $0.id == id })
            #expect(second.items.contains { $0.id == id })
            // The document's mirror of the category moved too, so price listings agree.
            #expect(try await test.mongo.document(id: id)?.categoryID == 2)
            let byPrice = try await loader.load(
                categoryID: 2, request: PageRequest(perPage: 100, sort: .priceAscending))
            #expect(byPrice.items.contains { $0.id == id })
        }
    }

    @Test func deleteRemovesBothParts() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let result = try await test.writer().delete(id: 2)
            #expect(result.state == .applied)
            #expect(result.row == nil)
            #expect(try await test.mongo.document(id: 2) == nil)
            await #expect(throws: HybridError.productNotFound(2)) {
                try await ProductLoader(catalog: test.catalog).product(id: 2, includeInactive: true)
            }
            await #expect(throws: HybridError.productNotFound(2)) { try await test.writer().delete(id: 2) }
        }
    }

    @Test func badWritesAreRefusedWithAReason() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            let writer = test.writer()
            await #expect(throws: HybridError.duplicateSKU(Self.generator.product(id: 1).product.sku)) {
                try await writer.create(newProduct(sku: Self.generator.product(id: 1).product.sku))
            }
            await #expect(throws: HybridError.categoryNotFound(77)) {
                try await writer.create(newProduct(sku: "X-1", category: 77))
            }
            await #expect(throws: HybridError.categoryNotFound(77)) { try await writer.move(id: 1, toCategory: 77) }
            await #expect(throws: HybridError.self) { try await writer.update(id: 1, changes: ProductChanges()) }
            await #expect(throws: HybridError.self) {
                try await writer.update(id: 1, changes: ProductChanges(currency: "euro"))
            }
            // Nothing of the refused writes reached either store.
            #expect(try await test.relay().pendingCount() == 0)
            #expect(try await test.mongo.count() == Int64(Self.generator.count))
        }
    }

    @Test func aCacheOutageLeavesTheInvalidationInTheOutbox() async throws {
        try await TestCatalog.with { test in
            try await test.seed(Self.generator)
            test.invalidator.setFailing(true)
            let result = try await test.writer().update(id: 7, changes: ProductChanges(name: "While the cache is down"))
            guard case .pending = result.state else {
                Issue.record("expected a pending write, got \(result.state)")
                return
            }
            // The document is already applied; only the invalidation waits.
            #expect(try await test.mongo.document(id: 7)?.document.name == "While the cache is down")
            #expect(try await test.relay().pendingCount() == 1)
            test.invalidator.setFailing(false)
            test.invalidator.reset()
            #expect(try await test.relay().drain() == 0)
            #expect(test.invalidator.calls.contains { $0.contains(.product(7)) })
        }
    }
}
