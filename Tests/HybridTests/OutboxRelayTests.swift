import Foundation
import Hybrid
import TestSupport
import Testing

/// Stops a real SecantusDB process in the middle of writes.
@Suite(.serialized) struct OutboxRelayTests {
    @Test func writesMadeWhileMongoIsDownLandAfterItRestarts() async throws {
        let storage = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("secantus")
        ).path
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let mongo = try ServiceProcess.secantus(storage: storage)
        try await mongo.start()
        let url = "mongodb://127.0.0.1:\(mongo.port)/?directConnection=true&serverSelectionTimeoutMS=1000"
        do {
            try await TestCatalog.with(mongoURL: url) { test in
                let generator = CatalogGenerator(categories: 1, perCategory: 12)
                try await test.seed(generator)
                let writer = test.writer()

                await mongo.stop()
                let first = try await writer.update(id: 3, changes: ProductChanges(name: "Offline one"))
                let second = try await writer.update(id: 3, changes: ProductChanges(price: Price("1.25")!))
                let created = try await writer.create(
                    NewProduct(
                        sku: "OFFLINE-NEW", categoryID: 1,
                        document: ProductDocument(
                            name: "Made offline", description: "", price: Price("3")!, currency: "EUR")))
                for result in [first, second, created] {
                    guard case .pending = result.state else {
                        Issue.record("a write while MongoDB is down must be pending, got \(result.state)")
                        return
                    }
                }
                #expect(try await test.relay().pendingCount() == 3)
                // Reads report the outage instead of serving a half-made product (the cache serves stale).
                await #expect(throws: HybridError.self) {
                    try await ProductLoader(catalog: test.catalog).product(id: 3)
                }

                try await mongo.start()
                let remaining = try await test.relay().drain(attempts: 20)
                #expect(remaining == 0)
                let product = try await ProductLoader(catalog: test.catalog).product(id: 3)
                #expect(product.name == "Offline one")
                #expect(product.price == Price("1.25"))
                #expect(product.version == 3)
                #expect(try await test.mongo.document(id: 3)?.version == 3)
                let newID = try #require(created.row?.id)
                #expect(try await ProductLoader(catalog: test.catalog).product(id: newID).name == "Made offline")
            }
        } catch {
            await mongo.stop()
            throw error
        }
        await mongo.stop()
    }

    @Test func anOldChangeNeverOverwritesANewerOne() async throws {
        try await TestCatalog.with { test in
            try await test.seed(CatalogGenerator(categories: 1, perCategory: 3))
            #expect(try await test.mongo.apply(id: 1, version: 5, set: ["name": .string("Version five")]))
            #expect(try await test.mongo.apply(id: 1, version: 4, set: ["name": .string("Version four")]) == false)
            #expect(try await test.mongo.apply(id: 1, version: 5, set: ["name": .string("Five again")]) == false)
            #expect(try await test.mongo.document(id: 1)?.document.name == "Version five")
        }
    }
}
