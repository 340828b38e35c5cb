import Logging
import PostgresNIO
import Synchronization

/// The two stores of the hybrid model, and the round-trip counters shared by everything that
/// queries them.
public struct HybridCatalog: Sendable {
    public let postgres: PostgresClient
    public let mongo: MongoProductCollection
    public let stats: BackendStats
    public let logger: Logger
    /// Where its queries' tasks run, if not on the shared pool (writes run on their own thread).
    public let executor: (any TaskExecutor)?
    /// A streaming replica for the storefront's loads (`readSQL`), fenced by WAL position.
    public let readReplica: ReadReplica?

    /// How long a query outside a transaction may wait for a connection and its first answer.
    static let queryTimeout: Duration = .seconds(3)

    public init(
        postgres: PostgresClient, mongo: MongoProductCollection, logger: Logger, executor: (any TaskExecutor)? = nil,
        readReplica: ReadReplica? = nil
    ) {
        self.readReplica = readReplica
        self.postgres = postgres
        self.mongo = mongo
        self.stats = mongo.pool.stats
        self.logger = logger
        self.executor = executor
    }

    /// Runs one SQL query outside a transaction and counts it.
    @discardableResult
    func sql(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        stats.recordSQLQuery()
        let started = ContinuousClock.now
        defer { stats.postgresTimer.recordNanoseconds((ContinuousClock.now - started).nanoseconds) }
        let postgres = self.postgres
        let logger = self.logger
        do {
            // A stopped server makes the pool wait for a connection indefinitely; a query that has
            // no answer within the timeout fails instead, so a miss can be answered (503 or stale).
            return try await Deadline.run(
                Self.queryTimeout,
                expired: { HybridError.postgresUnavailable("no answer within \(Self.queryTimeout)") },
                executor: executor
            ) {
                try await postgres.query(query, logger: logger)
            }
        } catch let error as PSQLError {
            stats.postgresErrors.increment()
            throw Self.translate(error)
        } catch let error as HybridError {
            stats.postgresErrors.increment()
            throw error
        }
    }

    /// Runs one read-only SQL query of a storefront load and returns its rows: on the read replica
    /// when there is one, it is in use, and it has replayed the WAL up to where the primary stands
    /// now on the same history (so it holds every write acknowledged before this load began);
    /// otherwise on the primary.
    func readSQL(_ query: PostgresQuery) async throws -> [PostgresRow] {
        if let readReplica {
            if readReplica.isUsable {
                if let fence = try await primaryFence(), let rows = await readReplica.rows(query, fence: fence) {
                    stats.recordSQLQuery()
                    return rows
                }
            } else {
                readReplica.count(.lagging)
            }
        }
        return try await sql(query).collect()
    }

    /// Where the primary's WAL stands now, and on which history.
    func primaryFence() async throws -> ReadReplica.Fence? {
        let rows = try await sql(
            """
            SELECT position::text, (SELECT system_identifier FROM pg_control_system())::text,
                substr(pg_walfile_name(position), 1, 8)
            FROM pg_current_wal_insert_lsn() AS position
            """)
        for try await (position, system, timeline) in rows.decode((String, String, String).self) {
            return ReadReplica.Fence(position: position, system: system, timeline: timeline)
        }
        return nil
    }

    /// Runs one SQL query inside a transaction and counts it.
    @discardableResult
    func sql(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> PostgresRowSequence {
        stats.recordSQLQuery()
        return try await connection.query(query, logger: logger)
    }

    /// Runs `body` in one transaction; errors come out as `HybridError` where a user can act on them.
    ///
    /// A connection must be had within `queryTimeout`, or this fails with `postgresUnavailable`
    /// and the transaction never begins (not even later, once PostgreSQL is back: a caller told
    /// that its write failed must be able to trust it). Once begun, the session's
    /// `statement_timeout` bounds each statement.
    func transaction<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let postgres = self.postgres
        let logger = self.logger
        // 0: waiting for a connection; 1: begun (must finish); 2: abandoned (must never begin).
        let phase = Atomic<UInt8>(0)
        do {
            return try await Deadline.run(
                Self.queryTimeout,
                expired: { HybridError.postgresUnavailable("no connection within \(Self.queryTimeout)") },
                mayAbandon: {
                    phase.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged
                },
                executor: executor
            ) {
                try await postgres.withConnection { connection in
                    guard phase.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged
                    else { throw CancellationError() }
                    return try await connection.withTransaction(logger: logger) { try await body($0) }
                }
            }
        } catch let error as HybridError {
            throw error
        } catch let error as PostgresTransactionError {
            throw Self.translate(error.closureError ?? error.commitError ?? error.beginError ?? error)
        } catch {
            throw Self.translate(error)
        }
    }

    /// Maps PostgreSQL errors a user can act on to `HybridError`, in words of the product (never
    /// the server's own text, which names constraints and values); others pass through, to be
    /// logged in full and answered with a generic 500.
    static func translate(_ error: any Error) -> any Error {
        guard let psql = error as? PSQLError else { return error }
        switch psql.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
            return HybridError.postgresUnavailable("the connection failed")
        default:
            break
        }
        guard let state = psql.serverInfo?[.sqlState] else { return error }
        let detail = psql.serverInfo?[.detail] ?? ""
        let constraint = psql.serverInfo?[.constraintName] ?? ""
        switch state {
        case "23505":
            if let sku = Self.quotedValue(in: detail, after: "(sku)=(") { return HybridError.duplicateSKU(sku) }
            if let slug = Self.quotedValue(in: detail, after: "(slug)=(") { return HybridError.duplicateSlug(slug) }
            if let id = Self.quotedValue(in: detail, after: "(id)=("), let number = Int64(id) {
                return HybridError.duplicateID(
                    entity: constraint.hasPrefix("categories") ? "category" : "product", id: number)
            }
            return HybridError.invalidInput("a value that must be unique is already taken")
        case "23503":
            if let id = Self.quotedValue(in: detail, after: "(category_id)=("), let number = Int64(id) {
                return HybridError.categoryNotFound(number)
            }
            if let id = Self.quotedValue(in: detail, after: "(parent_id)=("), let number = Int64(id) {
                return HybridError.categoryNotFound(number)
            }
            return HybridError.invalidInput("the change refers to something that does not exist")
        case "23514", "22001", "22003":
            // Constraint names are <table>_<column>_check: name the field when they say it.
            let field = constraint.split(separator: "_").dropFirst().dropLast().joined(separator: "_")
            return HybridError.invalidInput(
                field.isEmpty ? "a value is out of range" : "field '\(field)' is out of range")
        case "22021", "22P05":
            return HybridError.invalidInput("a value holds a character PostgreSQL cannot store")
        case "57014":
            return HybridError.postgresUnavailable("a statement took longer than the statement timeout")
        case "57P01", "57P02", "57P03", "08000", "08003", "08006", "53300":
            return HybridError.postgresUnavailable("the server is shutting down, starting or out of connections")
        default:
            return error
        }
    }

    private static func quotedValue(in detail: String, after prefix: String) -> String? {
        guard let start = detail.range(of: prefix) else { return nil }
        let rest = detail[start.upperBound...]
        guard let end = rest.firstIndex(of: ")") else { return nil }
        return String(rest[..<end])
    }
}

extension HybridCatalog {
    /// Checks that PostgreSQL answers.
    public func ping() async throws {
        let rows = try await sql("SELECT 1")
        for try await _ in rows {}
    }

    /// The listing dependency of each product that exists (`listed(category:product:)`): what a
    /// change of those products, made outside the gateway, reaches on listing pages.
    public func listedTags(ofProducts ids: [Int64]) async throws -> [CatalogTag] {
        guard !ids.isEmpty else { return [] }
        var tags: [CatalogTag] = []
        let rows = try await sql("SELECT id, category_id FROM products WHERE id = ANY(\(ids))")
        for try await (id, category) in rows.decode((Int64, Int64).self) {
            tags.append(.listed(category: category, product: id))
        }
        return tags
    }

    /// The tag of every category and product (an invalidation of everything).
    public func allTags() async throws -> [CatalogTag] {
        var tags: [CatalogTag] = []
        let rows = try await sql("SELECT 'c', id FROM categories UNION ALL SELECT 'p', id FROM products")
        for try await (kind, id) in rows.decode((String, Int64).self) {
            tags.append(kind == "c" ? .category(id) : .product(id))
        }
        return tags
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
