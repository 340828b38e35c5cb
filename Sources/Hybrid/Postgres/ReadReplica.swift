import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A streaming replica of PostgreSQL that takes the storefront's loads off the primary, never at
/// the cost of an older answer than the primary would give.
///
/// A load runs on the replica only when the replica has replayed the WAL up to where the primary
/// stood when the load began (`pg_current_wal_insert_lsn()` on the primary, compared with
/// `pg_last_wal_replay_lsn()` on the replica): every write acknowledged before then, and so every
/// cache generation the fill fences on, is in what the replica answers. The fence is by WAL
/// position, not by replay timestamp (which grows on an idle primary with nothing to replay).
/// Otherwise, and whenever the replica fails, the load goes to the primary.
///
/// Beside the fence, a monitor reads the replica's lag every `checkInterval`; while it exceeds
/// `maximumLag` (or the replica does not answer) every load goes straight to the primary, saving
/// the fence's round trips.
public final class ReadReplica: Service, Sendable {
    public let client: PostgresClient
    let maximumLag: Duration
    let checkInterval: Duration
    let logger: Logger
    private let usable = Atomic<Bool>(false)
    private let outcomes: [Outcome: Counter]
    private let tallies = Mutex<[Outcome: Int]>([:])

    /// Where a load ran, for `postgres_read_replica_loads_total{outcome}`.
    public enum Outcome: String, CaseIterable, Sendable {
        /// On the replica.
        case replica
        /// On the primary: the replica had not replayed the load's fence yet.
        case behind
        /// On the primary: the monitor found the replica lagging or unreachable.
        case lagging
        /// On the primary: the fence or the query failed on the replica.
        case error
    }

    public init(
        client: PostgresClient, maximumLag: Duration = .seconds(1), checkInterval: Duration = .milliseconds(500),
        logger: Logger
    ) {
        self.client = client
        self.maximumLag = maximumLag
        self.checkInterval = checkInterval
        self.logger = logger
        var outcomes: [Outcome: Counter] = [:]
        for outcome in Outcome.allCases {
            outcomes[outcome] = Counter(
                label: "postgres_read_replica_loads_total", dimensions: [("outcome", outcome.rawValue)])
        }
        self.outcomes = outcomes
    }

    /// How many loads ended `outcome` so far (the metric's value, for tests and logs).
    public func loads(_ outcome: Outcome) -> Int { tallies.withLock { $0[outcome] ?? 0 } }

    /// Whether loads try the replica now (the last lag check passed).
    public var isUsable: Bool { usable.load(ordering: .relaxed) }

    /// Runs the client and the lag monitor until shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.client.run() }
                group.addTask {
                    while !Task.isCancelled {
                        await self.checkLag()
                        try? await Task.sleep(for: self.checkInterval)
                    }
                }
            }
        }
    }

    /// One lag check: the replay delay when there is WAL received but not yet replayed (0 when
    /// the replica has replayed all it received, however old the last transaction is).
    func checkLag() async {
        let wasUsable = isUsable
        var lag: Duration?
        var reason = "no answer"
        do {
            let rows = try await Deadline.run(.seconds(1), expired: { HybridError.postgresUnavailable("no answer") }) {
                try await self.client.query(
                    """
                    SELECT pg_is_in_recovery(),
                        CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
                        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8
                    """, logger: self.logger)
            }
            for try await (recovering, seconds) in rows.decode((Bool, Double).self) {
                if recovering, seconds.isFinite, seconds >= 0, seconds < 1e9 {
                    lag = .milliseconds(Int64(seconds * 1000))
                } else {
                    reason = recovering ? "a lag of \(seconds) s" : "not a standby (promoted?)"
                }
            }
        } catch {
            reason = "\(error)"
        }
        let ok = lag.map { $0 <= maximumLag } ?? false
        usable.store(ok, ordering: .relaxed)
        if ok != wasUsable {
            if ok {
                logger.info("PostgreSQL read replica in use")
            } else {
                logger.warning(
                    "PostgreSQL read replica not used: loads go to the primary",
                    metadata: ["reason": "\(lag.map { "lag \($0) over \(maximumLag)" } ?? reason)"])
            }
        }
    }

    /// Runs `query` on the replica if it has replayed up to `position` (an LSN as text); `nil`
    /// when it has not, or when the replica failed (the caller asks the primary).
    func query(_ query: PostgresQuery, fencedAt position: String) async -> PostgresRowSequence? {
        do {
            let replayed = try await Deadline.run(
                .seconds(1), expired: { HybridError.postgresUnavailable("no answer") }
            ) {
                try await self.client.query(
                    "SELECT COALESCE(pg_last_wal_replay_lsn() >= \(position)::pg_lsn, false)", logger: self.logger)
            }
            var ready = false
            for try await (value) in replayed.decode(Bool.self) { ready = value }
            guard ready else {
                count(.behind)
                return nil
            }
            let rows = try await Deadline.run(
                .seconds(3), expired: { HybridError.postgresUnavailable("no answer") }
            ) {
                try await self.client.query(query, logger: self.logger)
            }
            count(.replica)
            return rows
        } catch {
            count(.error)
            return nil
        }
    }

    func count(_ outcome: Outcome) {
        outcomes[outcome]?.increment()
        tallies.withLock { $0[outcome, default: 0] += 1 }
    }
}
