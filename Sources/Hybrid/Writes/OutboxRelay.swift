import Logging
import PostgresNIO
import ServiceLifecycle

/// Delivers outbox entries that a write could not finish (MongoDB or the cache was down, or the
/// process stopped between commit and delivery), in order per product, retrying with backoff.
///
/// Entries are partial `$set`s guarded by version, so a product's changes must land in order: only
/// a product's oldest entry is eligible, and only once it is due. Each pass locks what it takes
/// (`FOR UPDATE SKIP LOCKED`), so any number of gateway processes can run a relay on one outbox
/// and no entry is applied by two of them at once; a pass that crashes leaves its entries to be
/// applied again, which the version guard makes harmless.
///
/// An entry this version cannot read, or that a store keeps refusing (`maxAttempts` times), moves
/// to the dead letters: kept, counted, listed and retried by an operator (`OutboxDeadLetters`),
/// and still holding back its product's later changes. An outage is never a reason to give up.
public struct OutboxRelay: Service {
    /// What one pass did.
    public struct Pass: Sendable, Hashable {
        public var delivered = 0
        public var failed = 0
        public var deadLettered = 0
        /// The pass took as many entries as it may: more may be waiting.
        public var full = false
    }

    let catalog: HybridCatalog
    let delivery: OutboxDelivery
    let idleInterval: Duration
    let batchSize: Int
    let maxAttempts: Int
    /// How long one pass keeps taking entries (and holds their locks).
    static let passBudget: Duration = .seconds(2)

    public init(
        catalog: HybridCatalog, invalidator: any TagInvalidator, idleInterval: Duration = .milliseconds(500),
        batchSize: Int = 50, maxAttempts: Int = 10
    ) {
        self.catalog = catalog
        self.delivery = OutboxDelivery(catalog: catalog, invalidator: invalidator)
        self.idleInterval = idleInterval
        self.batchSize = max(1, batchSize)
        self.maxAttempts = max(1, maxAttempts)
    }

    public func run() async throws {
        let logger = catalog.logger
        let deadLetters = OutboxDeadLetters(catalog: catalog)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                var pass = Pass()
                do {
                    pass = try await self.runOnce()
                    self.catalog.stats.outboxBacklog.record(try await self.pendingCount())
                    self.catalog.stats.outboxDeadLetters.record(try await deadLetters.count())
                    if pass.delivered > 0 || pass.failed > 0 || pass.deadLettered > 0 {
                        logger.info(
                            "outbox relay pass",
                            metadata: [
                                "delivered": "\(pass.delivered)", "failed": "\(pass.failed)",
                                "dead_lettered": "\(pass.deadLettered)",
                            ])
                    }
                } catch {
                    logger.warning(
                        "outbox relay could not read the outbox", metadata: ["error": "\(String(reflecting: error))"])
                }
                if !pass.full || pass.delivered == 0 {
                    try? await Task.sleep(for: self.idleInterval)
                }
            }
        }
    }

    /// Takes the eligible entries (due, oldest of their product, product not dead-lettered) that no
    /// other relay holds, and delivers them in one transaction. A pass stops taking new entries after
    /// `passBudget` (an unreachable store makes each attempt wait out its timeout); what it did not
    /// reach stays due for the next.
    public func runOnce() async throws -> Pass {
        let catalog = self.catalog
        let delivery = self.delivery
        let batchSize = self.batchSize
        let maxAttempts = self.maxAttempts
        let deadline = ContinuousClock.now + Self.passBudget
        return try await catalog.transaction { connection in
            let rows = try await catalog.sql(
                """
                SELECT o.id, o.product_id, o.version, o.operation, o.payload::text, o.tags, o.document_applied,
                    o.attempts
                FROM outbox o
                WHERE o.next_attempt_at <= now()
                    AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.product_id = o.product_id AND e.id < o.id)
                    AND NOT EXISTS (SELECT 1 FROM outbox_dead_letters d WHERE d.product_id = o.product_id)
                ORDER BY o.id
                LIMIT \(batchSize)
                FOR UPDATE OF o SKIP LOCKED
                """, on: connection)
            var stored: [(Int64, Int64?, Int64, String, String, [String], Bool, Int)] = []
            for try await c in rows.decode((Int64, Int64?, Int64, String, String, [String], Bool, Int).self) {
                stored.append(c)
            }
            var pass = Pass()
            pass.full = stored.count == batchSize
            for c in stored {
                guard ContinuousClock.now < deadline else { break }
                let entry: OutboxEntry
                do {
                    entry = try OutboxEntry(
                        id: c.0, productID: c.1, version: c.2, operation: c.3, payload: c.4, tags: c.5,
                        documentApplied: c.6, attempts: c.7)
                } catch {
                    try await Self.deadLetter(id: c.0, reason: "\(error)", catalog: catalog, on: connection)
                    pass.deadLettered += 1
                    continue
                }
                let (documentApplied, failure) = await delivery.apply(entry)
                switch failure {
                case nil:
                    try await catalog.sql("DELETE FROM outbox WHERE id = \(entry.id)", on: connection)
                    pass.delivered += 1
                case let failure? where failure.isRejection && entry.attempts + 1 >= maxAttempts:
                    try await catalog.sql(
                        "UPDATE outbox SET document_applied = \(documentApplied) WHERE id = \(entry.id)",
                        on: connection)
                    try await Self.deadLetter(
                        id: entry.id, reason: "refused \(entry.attempts + 1) times; last: \(failure)", catalog: catalog,
                        on: connection)
                    pass.deadLettered += 1
                case let failure?:
                    try await catalog.sql(
                        OutboxDelivery.failureUpdate(entry, documentApplied: documentApplied, reason: "\(failure)"),
                        on: connection)
                    pass.failed += 1
                }
            }
            return pass
        }
    }

    /// Moves an entry to the dead letters, in the relay's transaction.
    static func deadLetter(id: Int64, reason: String, catalog: HybridCatalog, on connection: PostgresConnection)
        async throws
    {
        try await catalog.sql(
            """
            WITH moved AS (DELETE FROM outbox WHERE id = \(id) RETURNING *)
            INSERT INTO outbox_dead_letters (id, product_id, version, operation, payload, tags, document_applied,
                attempts, last_error, created_at)
            SELECT id, product_id, version, operation, payload, tags, document_applied, attempts + 1,
                \(String(reason.prefix(2000))), created_at
            FROM moved
            """, on: connection)
        catalog.logger.error(
            "outbox entry moved to the dead letters; its product's later changes wait until it is retried or discarded",
            metadata: ["outbox.id": "\(id)", "reason": "\(reason)"])
    }

    /// Entries not yet delivered (the backlog metric); dead letters are counted apart.
    public func pendingCount() async throws -> Int64 {
        let rows = try await catalog.sql("SELECT count(*) FROM outbox")
        for try await count in rows.decode(Int64.self) { return count }
        return 0
    }

    /// Delivers every entry now, ignoring retry times; for tools and tests that must see the stores
    /// converge. Gives up after `attempts` passes that deliver nothing.
    /// - Returns: the entries still pending.
    @discardableResult
    public func drain(attempts: Int = 3) async throws -> Int64 {
        var idle = 0
        while idle < attempts {
            try await catalog.sql("UPDATE outbox SET next_attempt_at = now() WHERE next_attempt_at > now()")
            let pass = try await runOnce()
            if pass.delivered == 0 && pass.deadLettered == 0 { idle += 1 }
            if try await pendingCount() == 0 { return 0 }
        }
        return try await pendingCount()
    }
}
