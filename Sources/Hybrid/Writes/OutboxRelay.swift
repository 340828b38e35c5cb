import Logging
import PostgresNIO
import ServiceLifecycle

/// Delivers outbox entries that a write could not finish (MongoDB or the cache was down, or the
/// process stopped between commit and delivery), in order per product, retrying with backoff.
public struct OutboxRelay: Service {
    /// What one pass did.
    public struct Pass: Sendable, Hashable {
        public var delivered = 0
        public var failed = 0
        /// Entries that wait behind an earlier entry of the same product, or for their retry time.
        public var deferred = 0
        /// The pass read as many entries as it may: more may be waiting.
        public var full = false
    }

    let catalog: HybridCatalog
    let delivery: OutboxDelivery
    let idleInterval: Duration
    let batchSize: Int

    public init(
        catalog: HybridCatalog, invalidator: any TagInvalidator, idleInterval: Duration = .milliseconds(500),
        batchSize: Int = 200
    ) {
        self.catalog = catalog
        self.delivery = OutboxDelivery(catalog: catalog, invalidator: invalidator)
        self.idleInterval = idleInterval
        self.batchSize = batchSize
    }

    public func run() async throws {
        let logger = catalog.logger
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                var pass = Pass()
                do {
                    pass = try await self.runOnce()
                    self.catalog.stats.outboxBacklog.record(try await self.pendingCount())
                    if pass.delivered > 0 || pass.failed > 0 {
                        logger.info(
                            "outbox relay pass",
                            metadata: [
                                "delivered": "\(pass.delivered)", "failed": "\(pass.failed)",
                                "deferred": "\(pass.deferred)",
                            ])
                    }
                } catch {
                    logger.warning("outbox relay could not read the outbox", metadata: ["error": "\(error)"])
                }
                if !pass.full || pass.delivered == 0 {
                    try? await Task.sleep(for: self.idleInterval)
                }
            }
        }
    }

    /// Delivers the due entries once, oldest first. An entry that fails, or is not yet due, holds back
    /// the later entries of its product so changes are never applied out of order.
    public func runOnce() async throws -> Pass {
        let rows = try await catalog.sql(
            """
            SELECT id, product_id, version, operation, payload::text, tags, document_applied, attempts,
                next_attempt_at <= now()
            FROM outbox ORDER BY id LIMIT \(batchSize)
            """)
        var entries: [(OutboxEntry, Bool)] = []
        for try await c in rows.decode((Int64, Int64?, Int64, String, String, [String], Bool, Int, Bool).self) {
            let entry = OutboxEntry(
                id: c.0, productID: c.1, version: c.2, operation: OutboxEntry.Operation(rawValue: c.3) ?? .invalidate,
                set: OutboxEntry.decodePayload(c.4), tags: c.5.compactMap(CatalogTag.init), documentApplied: c.6,
                attempts: c.7)
            entries.append((entry, c.8))
        }
        var pass = Pass()
        pass.full = entries.count == batchSize
        var heldBack = Set<Int64>()
        for (entry, due) in entries {
            if let product = entry.productID, heldBack.contains(product) {
                pass.deferred += 1
                continue
            }
            guard due else {
                if let product = entry.productID { heldBack.insert(product) }
                pass.deferred += 1
                continue
            }
            if await delivery.deliver(entry) == nil {
                pass.delivered += 1
            } else {
                pass.failed += 1
                if let product = entry.productID { heldBack.insert(product) }
            }
        }
        return pass
    }

    /// Entries not yet delivered (the backlog metric).
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
            if pass.delivered == 0 { idle += 1 }
            if try await pendingCount() == 0 { return 0 }
        }
        return try await pendingCount()
    }
}
