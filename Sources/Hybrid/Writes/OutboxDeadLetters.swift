import Foundation
import PostgresNIO

/// The outbox entries that could not be delivered (unreadable, or refused `maxAttempts` times).
/// They are kept, not dropped, and hold back their product's later changes until an operator
/// retries (the entry goes back to the outbox, due now) or discards them.
public struct OutboxDeadLetters: Sendable {
    /// One dead letter, as listed.
    public struct Letter: Sendable, Hashable {
        public var id: Int64
        public var productID: Int64?
        public var version: Int64
        public var operation: String
        public var tags: [String]
        public var attempts: Int
        public var lastError: String
        public var createdAt: Date
        public var deadAt: Date
    }

    let catalog: HybridCatalog

    public init(catalog: HybridCatalog) {
        self.catalog = catalog
    }

    public func count() async throws -> Int64 {
        let rows = try await catalog.sql("SELECT count(*) FROM outbox_dead_letters")
        for try await count in rows.decode(Int64.self) { return count }
        return 0
    }

    /// Oldest first, `limit` after the id `after`.
    public func list(after: Int64 = 0, limit: Int = 100) async throws -> [Letter] {
        let rows = try await catalog.sql(
            """
            SELECT id, product_id, version, operation, tags, attempts, last_error, created_at, dead_at
            FROM outbox_dead_letters WHERE id > \(after) ORDER BY id LIMIT \(max(1, min(limit, 1000)))
            """)
        var letters: [Letter] = []
        for try await c in rows.decode((Int64, Int64?, Int64, String, [String], Int, String, Date, Date).self) {
            letters.append(
                Letter(
                    id: c.0, productID: c.1, version: c.2, operation: c.3, tags: c.4, attempts: c.5, lastError: c.6,
                    createdAt: c.7, deadAt: c.8))
        }
        return letters
    }

    /// Puts a dead letter back in the outbox, due now, with its attempts reset.
    /// - Throws: `HybridError.deadLetterNotFound`, or `.invalidInput` when this version cannot
    ///   apply its operation.
    public func retry(id: Int64) async throws {
        try await catalog.transaction { connection in
            let rows = try await catalog.sql(
                "SELECT operation FROM outbox_dead_letters WHERE id = \(id) FOR UPDATE", on: connection)
            var operation: String?
            for try await value in rows.decode(String.self) { operation = value }
            guard let operation else { throw HybridError.deadLetterNotFound(id) }
            guard OutboxEntry.Operation(rawValue: operation) != nil else {
                throw HybridError.invalidInput(
                    "dead letter \(id) has the operation '\(operation.prefix(40))', which this version cannot apply")
            }
            try await catalog.sql(
                """
                WITH moved AS (DELETE FROM outbox_dead_letters WHERE id = \(id) RETURNING *)
                INSERT INTO outbox (id, product_id, version, operation, payload, tags, document_applied, attempts,
                    next_attempt_at, last_error, created_at)
                SELECT id, product_id, version, operation, payload, tags, document_applied, 0, now(), last_error,
                    created_at
                FROM moved
                """, on: connection)
        }
    }

    /// Drops a dead letter for good: its change then never reaches MongoDB or the cache (a later
    /// write of the product carries only the fields it changes).
    public func discard(id: Int64) async throws {
        let rows = try await catalog.sql("DELETE FROM outbox_dead_letters WHERE id = \(id) RETURNING id")
        for try await _ in rows.decode(Int64.self) { return }
        throw HybridError.deadLetterNotFound(id)
    }
}
