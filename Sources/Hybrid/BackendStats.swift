import Metrics
import Synchronization

/// Counts round trips to each database: the evidence that a page costs one SQL query and one
/// MongoDB query, and the source of the backend metrics.
public final class BackendStats: Sendable {
    private let sql = Atomic<Int>(0)
    private let mongo = Atomic<Int>(0)
    let postgresTimer = Timer(label: "backend_request_duration_seconds", dimensions: [("backend", "postgres")])
    let mongoTimer = Timer(label: "backend_request_duration_seconds", dimensions: [("backend", "mongodb")])
    let postgresErrors = Counter(label: "backend_errors_total", dimensions: [("backend", "postgres")])
    let mongoErrors = Counter(label: "backend_errors_total", dimensions: [("backend", "mongodb")])
    /// Where an admin write spends its time: the PostgreSQL transaction, the MongoDB apply, the
    /// cache invalidation and the removal of the delivered outbox entry.
    let writeTransaction = Timer(label: "admin_write_phase_seconds", dimensions: [("phase", "transaction")])
    let writeDocument = Timer(label: "admin_write_phase_seconds", dimensions: [("phase", "document")])
    let writeInvalidation = Timer(label: "admin_write_phase_seconds", dimensions: [("phase", "invalidation")])
    let writeCleanup = Timer(label: "admin_write_phase_seconds", dimensions: [("phase", "cleanup")])
    let outboxBacklog = Gauge(label: "outbox_backlog")
    let outboxDeadLetters = Gauge(label: "outbox_dead_letters")

    public init() {}

    public var sqlQueries: Int { sql.load(ordering: .relaxed) }
    public var mongoOperations: Int { mongo.load(ordering: .relaxed) }

    func recordSQLQuery() { sql.add(1, ordering: .relaxed) }
    func recordMongoOperation() { mongo.add(1, ordering: .relaxed) }
}
