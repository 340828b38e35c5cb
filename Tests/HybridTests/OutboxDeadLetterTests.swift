import Foundation
import Hybrid
import PostgresNIO
import Synchronization
import TestSupport
import Testing

/// An invalidator that fails for the products it is told to, and counts what it delivered.
final class SelectiveInvalidator: TagInvalidator {
    private let failing: Set<Int64>
    private let delivered = Mutex<[CatalogTag: Int]>([:])
    private let delay: Duration

    init(failing: Set<Int64> = [], delay: Duration = .zero) {
        self.failing = failing
        self.delay = delay
    }

    struct Down: Error {}

    func invalidate(_ tags: [CatalogTag]) async throws {
        if delay > .zero { try await Task.sleep(for: delay) }
        for tag in tags {
            if case .product(let id) = tag, failing.contains(id) { throw Down() }
        }
        delivered.withLock { for tag in tags { $0[tag, default: 0] += 1 } }
    }

    func count(_ tag: CatalogTag) -> Int { delivered.withLock { $0[tag] ?? 0 } }
    var all: [CatalogTag: Int] { delivered.withLock { $0 } }
}

extension TestCatalog {
    func execute(_ sql: String) async throws {
        try await catalog.postgres.query(PostgresQuery(unsafeSQL: sql), logger: catalog.logger)
    }

    func count(_ sql: String) async throws -> Int64 {
        let rows = try await catalog.postgres.query(PostgresQuery(unsafeSQL: sql), logger: catalog.logger)
        for try await value in rows.decode(Int64.self) { return value }
        return -1
    }
}

/// The outbox never loses a change: what cannot be delivered is kept, in order, for an operator.
@Suite struct OutboxDeadLetterTests {
    @Test func anUnreadableEntryIsDeadLetteredAndHoldsBackItsProduct() async throws {
        try await TestCatalog.with { test in
            try await test.seed(CatalogGenerator(categories: 1, perCategory: 3))
            // Written by a newer version, or damaged: neither its operation nor its payload is known.
            try await test.execute(
                """
                INSERT INTO outbox (product_id, version, operation, payload, tags)
                VALUES (2, 7, 'upsert', '[1, 2]', ARRAY['product:2'])
                """)
            let invalidator = SelectiveInvalidator()
            let relay = OutboxRelay(catalog: test.catalog, invalidator: invalidator)
            let pass = try await relay.runOnce()
            #expect(pass.deadLettered == 1)
            #expect(pass.delivered == 0)
            #expect(try await relay.pendingCount() == 0)
            let letters = try await OutboxDeadLetters(catalog: test.catalog).list()
            #expect(letters.count == 1)
            #expect(letters.first?.productID == 2)
            #expect(letters.first?.lastError.contains("payload is not a JSON object") == true)
            #expect(invalidator.count(.product(2)) == 0, "nothing of it was applied")

            // A later change of the same product waits behind it; another product's does not.
            let writer = ProductWriter(catalog: test.catalog, invalidator: invalidator)
            let held = try await writer.update(id: 2, changes: ProductChanges(name: "Held back"))
            guard case .pending(let reason) = held.state else {
                Issue.record("a write behind a dead letter must be pending, got \(held.state)")
                return
            }
            #expect(reason.contains("dead letter"))
            let free = try await writer.update(id: 3, changes: ProductChanges(name: "Not held"))
            #expect(free.state == .applied)
            _ = try await relay.drain()
            #expect(try await test.mongo.document(id: 2)?.document.name != "Held back")
            #expect(try await relay.pendingCount() == 1)

            // Discarding the dead letter lets the product's later change through.
            let id = try #require(letters.first?.id)
            try await OutboxDeadLetters(catalog: test.catalog).discard(id: id)
            #expect(try await relay.drain() == 0)
            #expect(try await test.mongo.document(id: 2)?.document.name == "Held back")
            await #expect(throws: HybridError.deadLetterNotFound(id)) {
                try await OutboxDeadLetters(catalog: test.catalog).discard(id: id)
            }
        }
    }

    @Test func aRetriedDeadLetterIsDeliveredInOrder() async throws {
        try await TestCatalog.with { test in
            try await test.seed(CatalogGenerator(categories: 1, perCategory: 3))
            let invalidator = SelectiveInvalidator()
            let writer = ProductWriter(catalog: test.catalog, invalidator: invalidator)
            let refused = try await writer.update(id: 1, changes: ProductChanges(name: "First", description: "kept"))
            #expect(refused.state == .applied)
            // A change (version 3) that a store refused too often, moved as the relay moves it.
            try await test.execute("UPDATE products SET version = 3 WHERE id = 1")
            try await test.execute(
                """
                INSERT INTO outbox_dead_letters (id, product_id, version, operation, payload, tags, document_applied,
                    attempts, last_error, created_at)
                VALUES (\(refused.outboxID), 1, 3, 'upsert', '{"name": "Second"}', ARRAY['product:1'], false, 10,
                    'refused', now())
                """)
            let third = try await writer.update(id: 1, changes: ProductChanges(description: "Third"))
            guard case .pending = third.state else {
                Issue.record("expected pending, got \(third.state)")
                return
            }
            try await OutboxDeadLetters(catalog: test.catalog).retry(id: refused.outboxID)
            let relay = OutboxRelay(catalog: test.catalog, invalidator: invalidator)
            #expect(try await relay.drain() == 0)
            let document = try #require(try await test.mongo.document(id: 1))
            #expect(document.document.name == "Second")
            #expect(document.document.description == "Third")
            #expect(document.version == 4)
            #expect(try await OutboxDeadLetters(catalog: test.catalog).count() == 0)
        }
    }

    @Test func aChangeThatCannotBeRecordedIsRefusedBeforeItCommits() async throws {
        try await TestCatalog.with { test in
            try await test.seed(CatalogGenerator(categories: 1, perCategory: 2))
            let writer = test.writer()
            await #expect(throws: HybridError.self) {
                try await writer.update(id: 1, changes: ProductChanges(attributes: ["weight": .double(.nan)]))
            }
            #expect(try await test.count("SELECT version FROM products WHERE id = 1") == 1)
            #expect(try await test.count("SELECT count(*) FROM outbox") == 0)
        }
    }

    /// 200 entries that keep failing must not keep a good one waiting.
    @Test func failingEntriesOfOtherProductsCannotStarveAGoodOne() async throws {
        try await TestCatalog.with { test in
            try await test.execute(
                """
                INSERT INTO outbox (version, operation, tags)
                SELECT 1, 'invalidate', ARRAY['product:' || g] FROM generate_series(1, 201) g
                """)
            let invalidator = SelectiveInvalidator(failing: Set(1...200))
            let relay = OutboxRelay(catalog: test.catalog, invalidator: invalidator, batchSize: 200)
            // Each pass takes due entries only: once the failing ones back off, the good one is reached.
            for _ in 0..<30 where invalidator.count(.product(201)) == 0 { _ = try await relay.runOnce() }
            #expect(invalidator.count(.product(201)) == 1)
            #expect(try await relay.pendingCount() == 200)
        }
    }

    /// Two relays (two gateway processes) on one outbox: every entry applied exactly once.
    @Test func twoRelaysNeverApplyOneEntryTwice() async throws {
        try await TestCatalog.with { test in
            try await test.execute(
                """
                INSERT INTO outbox (version, operation, tags)
                SELECT 1, 'invalidate', ARRAY['product:' || g] FROM generate_series(1, 120) g
                """)
            let invalidator = SelectiveInvalidator(delay: .milliseconds(2))
            let relays = (0..<2).map { _ in
                OutboxRelay(catalog: test.catalog, invalidator: invalidator, batchSize: 10)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for relay in relays {
                    group.addTask {
                        for _ in 0..<100 {
                            _ = try await relay.runOnce()
                            if try await relay.pendingCount() == 0 { return }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(invalidator.all.count == 120)
            #expect(invalidator.all.values.allSatisfy { $0 == 1 }, "\(invalidator.all.filter { $0.value != 1 })")
        }
    }

    /// A crash between applying an entry and deleting it makes the relay apply it again later,
    /// after newer changes: the version guard keeps the newer document.
    @Test func redeliveringAnOldEntryAfterNewerOnesChangesNothing() async throws {
        try await TestCatalog.with { test in
            try await test.seed(CatalogGenerator(categories: 1, perCategory: 2))
            let writer = test.writer()
            _ = try await writer.update(id: 1, changes: ProductChanges(name: "Two"))
            _ = try await writer.update(id: 1, changes: ProductChanges(name: "Three"))
            try await test.execute(
                """
                INSERT INTO outbox (product_id, version, operation, payload, tags)
                VALUES (1, 2, 'upsert', '{"name": "Two"}', ARRAY['product:1'])
                """)
            #expect(try await test.relay().drain() == 0)
            #expect(try await test.mongo.document(id: 1)?.document.name == "Three")
            #expect(try await test.mongo.document(id: 1)?.version == 3)
        }
    }
}
