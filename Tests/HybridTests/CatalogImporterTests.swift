import Foundation
import Hybrid
import TestSupport
import Testing

@Suite struct CatalogImporterTests {
    func writeLines(_ lines: [String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("import") + ".jsonl"
        ).path
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func line(_ id: Int64, price: String = "\"9.99\"", sku: String? = nil, category: Int64 = 1) -> String {
        #"{"id": \#(id), "sku": "\#(sku ?? "IMP-\(id)")", "category": {"id": \#(category), "slug": "cat-\#(category)", "name": "Cat \#(category)"}, "status": "active", "created_at": "2024-01-0\#(id % 9 + 1)T10:00:00Z", "name": "Item \#(id)", "price": \#(price), "currency": "EUR", "attributes": {"n": \#(id)}, "images": []}"#
    }

    @Test func importsGoodLinesAndReportsBadOnesByLineNumber() async throws {
        let path = try writeLines([
            line(1), line(2), "", "{broken", line(3, price: "\"-1\""), line(4, price: "12"), line(5),
            line(6, category: 2),
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestCatalog.with { test in
            let summary = try await CatalogImporter(catalog: test.catalog, batchSize: 2).importFile(atPath: path)
            #expect(summary.imported == 4)
            #expect(summary.rejected == 3)
            #expect(summary.errors.map(\.line) == [4, 5, 6])
            #expect(summary.errors[1].reason.contains("price"))
            #expect(try await test.mongo.count() == 4)
            let products = try await ProductLoader(catalog: test.catalog).products(ids: [1, 2, 3, 4, 5, 6])
            #expect(Set(products.keys) == [1, 2, 5, 6])
            #expect(products[6]?.categoryID == 2)
            #expect(try await test.relay().pendingCount() == 0)
        }
    }

    @Test func abortStopsAtTheFirstBadLineKeepingWhatCameBefore() async throws {
        let path = try writeLines([line(1), line(2), "{broken", line(3)])
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestCatalog.with { test in
            let importer = CatalogImporter(catalog: test.catalog, batchSize: 10, policy: .abort)
            await #expect(throws: CatalogImportError.self) { try await importer.importFile(atPath: path) }
            let products = try await ProductLoader(catalog: test.catalog).products(ids: [1, 2, 3])
            #expect(Set(products.keys) == [1, 2])
            #expect(try await test.mongo.count() == 2)
        }
    }

    @Test func aConflictInsideABatchRefusesOnlyTheConflictingLine() async throws {
        let path = try writeLines([line(1), line(2), line(3, sku: "IMP-1"), line(4)])
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestCatalog.with { test in
            let summary = try await CatalogImporter(catalog: test.catalog, batchSize: 10).importFile(atPath: path)
            #expect(summary.imported == 3)
            #expect(summary.errors.map(\.line) == [3])
            #expect(summary.errors.first?.reason.contains("IMP-1") == true)
            // Neither store holds any part of the refused product.
            #expect(try await test.mongo.document(id: 3) == nil)
            #expect(try await test.mongo.count() == 3)
        }
    }

    @Test func aCacheOutageDuringImportLeavesOnlyTheInvalidationsPending() async throws {
        try await TestCatalog.with { test in
            test.invalidator.setFailing(true)
            let generator = CatalogGenerator(categories: 1, perCategory: 30)
            let summary = try await CatalogImporter(catalog: test.catalog, invalidator: test.invalidator, batchSize: 10)
                .importRecords(generator, count: generator.count)
            #expect(summary.imported == 30)
            #expect(summary.invalidationsPending == 30)
            #expect(try await test.mongo.count() == 30)
            #expect(try await test.relay().pendingCount() == 30)
            test.invalidator.setFailing(false)
            #expect(try await test.relay().drain() == 0)
            #expect(test.invalidator.calls.contains { $0.contains(.product(30)) })
        }
    }

    @Test func importingAgainUpdatesInPlaceAndBumpsVersions() async throws {
        try await TestCatalog.with { test in
            let generator = CatalogGenerator(categories: 2, perCategory: 20)
            try await test.seed(generator)
            try await test.seed(generator)
            let product = try await ProductLoader(catalog: test.catalog).products(
                ids: [1, 2, 3, 4], includeInactive: true)
            #expect(product.values.allSatisfy { $0.version == 2 })
            #expect(try await test.mongo.count() == 40)
            #expect(try await test.mongo.document(id: 1)?.version == 2)
        }
    }
}

@Suite struct MongoBulkApplyTests {
    static func fields(_ name: String) -> [String: JSONValue] {
        ["name": .string(name), "price": .string("1.00"), "price_e4": .int(10_000), "currency": .string("EUR")]
    }

    @Test func freshChangesOverExistingDocumentsFallBackToTheVersionGuard() async throws {
        try await TestCatalog.with { test in
            #expect(try await test.mongo.apply(id: 2, version: 1, set: Self.fields("already there")))
            #expect(try await test.mongo.apply(id: 3, version: 4, set: Self.fields("newer")))
            let changes: [(id: Int64, version: Int64, set: [String: JSONValue])] = (1...4).map {
                (id: Int64($0), version: 1, set: Self.fields("bulk \($0)"))
            }
            try await test.mongo.applyAll(changes)
            #expect(try await test.mongo.count() == 4)
            #expect(try await test.mongo.document(id: 1)?.document.name == "bulk 1")
            #expect(try await test.mongo.document(id: 2)?.document.name == "already there")  // same version: kept
            #expect(try await test.mongo.document(id: 3)?.document.name == "newer")  // newer: kept
            #expect(try await test.mongo.document(id: 4)?.document.name == "bulk 4")
        }
    }
}
