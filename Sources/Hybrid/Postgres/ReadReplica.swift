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
/// `pg_last_wal_replay_lsn()` on the replica) **of the same history**: the same system identifier,
/// and a WAL receiver streaming the primary's timeline (a standby left behind by a failover to
/// another one, or of another cluster, has positions that mean nothing here). Every write
/// acknowledged before then, and so every cache generation the fill fences on, is in what the
/// replica answers. The check and the query run on one connection (so on one server, whatever the
/// URL resolves to). The fence is by WAL position, not by replay timestamp (which grows on an idle
/// primary with nothing to replay). Otherwise, and whenever the replica fails, the load goes to
/// the primary. The replica's role needs `pg_read_all_stats` (or to be a superuser) to see its
/// WAL receiver; without it every load goes to the primary.
///
/// Beside the fence, a monitor reads the replica's lag every `checkInterval`; while it exceeds
/// `maximumLag` (or the replica does not answer) every load goes straight to the primary, saving
/// the fence's round trips.
public final class ReadReplica: Service, Sendable {
    public let client: PostgresClient
    let maximumLag: Duration
    let checkInterval: Duration
    let fenceWait: Duration
    let logger: Logger
    private let usable = Atomic<Bool>(false)
    private let overLimit = Mutex<Int>(0)
    private let outcomes: [Outcome: Counter]
    private let tallies = Mutex<[Outcome: Int]>([:])

    /// Where the primary stands: what a replica must have replayed, on which history.
    public struct Fence: Sendable, Hashable {
        public var position: String
        public var system: String
        /// The timeline, as the 8 hex digits of WAL file names.
        public var timeline: String
    }

    /// Where a load ran, for `postgres_read_replica_loads_total{outcome}`.
    public enum Outcome: String, CaseIterable, Sendable {
        /// On the replica.
        case replica
        /// On the primary: the replica had not replayed the load's fence within `fenceWait`.
        case behind
        /// On the primary: the monitor found the replica lagging or unreachable.
        case lagging
        /// On the primary: the fence or the query failed on the replica.
        case error
    }

    public init(
        client: PostgresClient, maximumLag: Duration = .seconds(1), checkInterval: Duration = .milliseconds(500),
        fenceWait: Duration = .milliseconds(5), logger: Logger
    ) {
        self.client = client
        self.fenceWait = fenceWait
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
    /// the replica has replayed all it received, however old the last transaction is), and a WAL
    /// receiver that is streaming (a standby whose replication stopped also has nothing to
    /// replay). Over the bound twice in a row (a first write after an idle hour shows the hour
    /// once), or not streaming, and loads stop trying the replica.
    func checkLag() async {
        let wasUsable = isUsable
        var lag: Duration?
        var reason = "no answer"
        do {
            let rows = try await Deadline.run(.seconds(1), expired: { HybridError.postgresUnavailable("no answer") }) {
                try await self.client.query(
                    """
                    SELECT pg_is_in_recovery(),
                        EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
                        CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
                        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8
                    """, logger: self.logger)
            }
            for try await (recovering, streaming, seconds) in rows.decode((Bool, Bool, Double).self) {
                if recovering, streaming, seconds.isFinite, seconds < 1e9 {
                    lag = .milliseconds(Int64(max(0, seconds) * 1000))  // a clock behind reads as 0
                } else {
                    reason =
                        !recovering
                        ? "not a standby (promoted?)"
                        : !streaming ? "its WAL receiver is not streaming" : "a lag of \(seconds) s"
                }
            }
        } catch {
            reason = "\(error)"
        }
        let within = lag.map { $0 <= maximumLag } ?? false
        let over = overLimit.withLock { count in
            count = within ? 0 : count + 1
            return count
        }
        // A lag over the bound counts on its second sighting; no answer or no streaming at once.
        let ok = within || (lag != nil && over < 2)
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

    /// The rows of `query` from the replica if it has replayed up to `fence` on the same history,
    /// waiting up to `fenceWait` for it to get there; `nil` when it has not, or when the replica
    /// failed at any point, rows included (the caller asks the primary). The check and the query
    /// share one connection.
    func rows(_ query: PostgresQuery, fence: Fence) async -> [PostgresRow]? {
        do {
            let logger = self.logger
            let fenceWait = self.fenceWait
            let rows = try await Deadline.run(.seconds(3), expired: { HybridError.postgresUnavailable("no answer") }) {
                try await self.client.withConnection { connection -> [PostgresRow]? in
                    let deadline = ContinuousClock.now + fenceWait
                    var ready = try await Self.hasReplayed(fence, on: connection, logger: logger)
                    while !ready && ContinuousClock.now < deadline && !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(1))
                        ready = try await Self.hasReplayed(fence, on: connection, logger: logger)
                    }
                    guard ready else { return nil }
                    return try await connection.query(query, logger: logger).collect()
                }
            }
            count(rows == nil ? .behind : .replica)
            return rows
        } catch {
            count(.error)
            return nil
        }
    }

    private static func hasReplayed(_ fence: Fence, on connection: PostgresConnection, logger: Logger) async throws
        -> Bool
    {
        let rows = try await connection.query(
            """
            SELECT COALESCE(pg_last_wal_replay_lsn() >= \(fence.position)::pg_lsn, false)
                AND (SELECT system_identifier FROM pg_control_system())::text = \(fence.system)
                AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'
                    AND upper(lpad(to_hex(received_tli), 8, '0')) = \(fence.timeline))
            """, logger: logger)
        var ready = false
        for try await (value) in rows.decode(Bool.self) { ready = value }
        return ready
    }

    func count(_ outcome: Outcome) {
        outcomes[outcome]?.increment()
        tallies.withLock { $0[outcome, default: 0] += 1 }
    }
}
