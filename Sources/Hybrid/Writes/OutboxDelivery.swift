import Logging
import PostgresNIO

/// Carries one outbox entry to MongoDB and the cache.
///
/// Used right after a commit (so a write normally returns fully applied) and by the relay for
/// entries that failed or were left by a crash. Applying twice is harmless: documents are
/// guarded by version and invalidating twice only costs a refill.
struct OutboxDelivery: Sendable {
    let catalog: HybridCatalog
    let invalidator: any TagInvalidator

    /// Why an entry was not delivered.
    enum Failure: Error, Sendable, CustomStringConvertible {
        /// A store could not be reached: retried with backoff for as long as that lasts.
        case unavailable(store: String, detail: String)
        /// A store refused the change: retried, then moved to the dead letters.
        case rejected(store: String, detail: String)

        /// The whole story, for the log and the outbox's `last_error`.
        var description: String {
            switch self {
            case .unavailable(let store, let detail): "\(store) is unavailable: \(detail)"
            case .rejected(let store, let detail): "\(store) refused the change: \(detail)"
            }
        }

        var isRejection: Bool {
            if case .rejected = self { return true }
            return false
        }

        /// What a client may be told: which store, never its driver's text.
        var summary: String {
            switch self {
            case .unavailable(let store, _): "\(store) is unavailable; the change will be applied when it is back"
            case .rejected(let store, _): "\(store) refused the change; it will be retried (see the outbox)"
            }
        }
    }

    /// Applies the entry's document change (unless already applied), then invalidates its tags.
    /// - Returns: whether the document change is applied, and what failed, if anything.
    /// - Parameter timed: records the phases in `admin_write_phase_seconds` (the path right after
    ///   a write's commit; the relay's retries are not).
    func apply(_ entry: OutboxEntry, timed: Bool = false) async -> (documentApplied: Bool, failure: Failure?) {
        var documentApplied = entry.documentApplied
        do {
            let stats = catalog.stats
            if !documentApplied, let productID = entry.productID {
                let started = ContinuousClock.now
                switch entry.operation {
                case .upsert: try await catalog.mongo.apply(id: productID, version: entry.version, set: entry.set)
                case .delete: try await catalog.mongo.delete(id: productID)
                case .invalidate: break
                }
                documentApplied = true
                if timed { stats.writeDocument.recordNanoseconds((ContinuousClock.now - started).nanoseconds) }
            }
            let started = ContinuousClock.now
            try await invalidator.invalidate(entry.tags)
            if timed { stats.writeInvalidation.recordNanoseconds((ContinuousClock.now - started).nanoseconds) }
            return (documentApplied, nil)
        } catch let mongo as MongoError {
            let detail = mongo.description
            return (
                documentApplied,
                mongo.isUnavailable
                    ? .unavailable(store: "MongoDB", detail: detail) : .rejected(store: "MongoDB", detail: detail)
            )
        } catch let hybrid as HybridError {
            switch hybrid {
            case .postgresUnavailable:
                return (documentApplied, .unavailable(store: "PostgreSQL", detail: hybrid.description))
            case .mongoUnavailable: return (documentApplied, .unavailable(store: "MongoDB", detail: hybrid.description))
            default: return (documentApplied, .rejected(store: "MongoDB", detail: hybrid.description))
            }
        } catch {
            // The invalidator's errors: the cache could not be reached.
            return (documentApplied, .unavailable(store: "the cache (Redis)", detail: String(reflecting: error)))
        }
    }

    /// Right after a commit: applies the entry and removes it, or leaves it for the relay.
    /// - Returns: `nil` when delivered, or why not in words a client may see (the entry then
    ///   waits for the relay; the log and the outbox keep the detail).
    func deliver(_ entry: OutboxEntry) async -> String? {
        let (documentApplied, failure) = await apply(entry, timed: true)
        if let failure {
            await recordFailure(entry, documentApplied: documentApplied, reason: failure.description)
            return failure.summary
        }
        do {
            let started = ContinuousClock.now
            try await catalog.sql("DELETE FROM outbox WHERE id = \(entry.id)")
            catalog.stats.writeCleanup.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        } catch {
            // Applied everywhere; the relay will apply it again harmlessly and remove it.
            catalog.logger.notice(
                "outbox entry applied but not removed",
                metadata: ["outbox.id": "\(entry.id)", "error": "\(String(reflecting: error))"])
        }
        return nil
    }

    /// Backs off exponentially from 200 ms to 30 s. If PostgreSQL itself is down the entry keeps its
    /// old schedule, which is just as safe.
    private func recordFailure(_ entry: OutboxEntry, documentApplied: Bool, reason: String) async {
        do {
            try await catalog.sql(Self.failureUpdate(entry, documentApplied: documentApplied, reason: reason))
        } catch {
            catalog.logger.warning(
                "could not record an outbox failure",
                metadata: ["outbox.id": "\(entry.id)", "error": "\(String(reflecting: error))"])
        }
        catalog.logger.notice(
            "outbox entry left for the relay",
            metadata: [
                "outbox.id": "\(entry.id)", "product.id": "\(entry.productID.map(String.init) ?? "-")",
                "reason": "\(reason)",
            ])
    }

    static func failureUpdate(_ entry: OutboxEntry, documentApplied: Bool, reason: String) -> PostgresQuery {
        let delay = backoff(attempts: entry.attempts)
        return """
            UPDATE outbox SET attempts = attempts + 1, document_applied = \(documentApplied),
                last_error = \(String(reason.prefix(2000))), next_attempt_at = now() + make_interval(secs => \(delay))
            WHERE id = \(entry.id)
            """
    }

    /// 200 ms doubled per attempt, at most 30 s.
    static func backoff(attempts: Int) -> Double {
        var value = 0.2
        for _ in 0..<min(max(attempts, 0), 8) { value *= 2 }
        return min(value, 30)
    }
}
