import Logging
import PostgresNIO

/// Carries one outbox entry to MongoDB and the cache, then removes it.
///
/// Used right after a commit (so a write normally returns fully applied) and by the relay for
/// entries that failed or were left by a crash. Applying twice is harmless: documents are
/// guarded by version and invalidating twice only costs a refill.
struct OutboxDelivery: Sendable {
    let catalog: HybridCatalog
    let invalidator: any TagInvalidator

    /// - Returns: `nil` when delivered, or why not (the entry then waits for the relay).
    func deliver(_ entry: OutboxEntry) async -> String? {
        var documentApplied = entry.documentApplied
        do {
            if !documentApplied, let productID = entry.productID {
                switch entry.operation {
                case .upsert: try await catalog.mongo.apply(id: productID, version: entry.version, set: entry.set)
                case .delete: try await catalog.mongo.delete(id: productID)
                case .invalidate: break
                }
                documentApplied = true
            }
            try await invalidator.invalidate(entry.tags)
            try await catalog.sql("DELETE FROM outbox WHERE id = \(entry.id)")
            return nil
        } catch {
            let reason: String
            switch error {
            case let mongo as MongoError: reason = mongo.hybridError.description
            default: reason = String(describing: error)
            }
            await recordFailure(entry, documentApplied: documentApplied, reason: reason)
            return reason
        }
    }

    /// Backs off exponentially from 200 ms to 30 s. If PostgreSQL itself is down the entry keeps its
    /// old schedule, which is just as safe.
    private func recordFailure(_ entry: OutboxEntry, documentApplied: Bool, reason: String) async {
        let delay = min(30.0, 0.2 * pow2(entry.attempts))
        do {
            try await catalog.sql(
                """
                UPDATE outbox SET attempts = attempts + 1, document_applied = \(documentApplied),
                    last_error = \(reason), next_attempt_at = now() + make_interval(secs => \(delay))
                WHERE id = \(entry.id)
                """)
        } catch {
            catalog.logger.warning(
                "could not record an outbox failure", metadata: ["outbox.id": "\(entry.id)", "error": "\(error)"])
        }
        catalog.logger.notice(
            "outbox entry left for the relay",
            metadata: [
                "outbox.id": "\(entry.id)", "product.id": "\(entry.productID.map(String.init) ?? "-")",
                "reason": "\(reason)",
            ])
    }

    private func pow2(_ exponent: Int) -> Double {
        var value = 1.0
        for _ in 0..<min(exponent, 20) { value *= 2 }
        return value
    }
}
