import CacheLayer
import Hybrid
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// The database clients of one process, built from the configuration.
public struct Backends: Sendable {
    public let postgres: PostgresClient
    /// The streaming replica for storefront loads (`GATEWAY_POSTGRES_READ_URL`), if any.
    public let readReplica: ReadReplica?
    public let mongoPool: MongoConnectionPool
    /// Reads: storefront loads, refills, warmups.
    public let catalog: HybridCatalog
    /// Writes have their own connections (admin writes, hooks, the outbox relay), so a storm of
    /// refills or misses cannot make a write wait for a connection.
    public let writePostgres: PostgresClient
    public let writeMongoPool: MongoConnectionPool
    public let writes: HybridCatalog
    /// One thread of its own for the write path (the admin listener, the write connections and
    /// the tasks of admin requests): under a saturating storefront load a write then waits for
    /// its round trips, not for the storefront's event loops and cooperative threads.
    public let writeEventLoopGroup: MultiThreadedEventLoopGroup
    /// Runs write tasks on that thread.
    let writeExecutor: EventLoopTaskExecutor

    /// What the admin listener needs of the write path: its thread, its executor and its Redis client.
    public struct WritePath: Sendable {
        let eventLoopGroup: any EventLoopGroup
        let executor: EventLoopTaskExecutor
        let redis: RedisClient
    }

    func writePath(redis: RedisClient) -> WritePath {
        WritePath(eventLoopGroup: writeEventLoopGroup, executor: writeExecutor, redis: redis)
    }

    public init(
        configuration: GatewayConfiguration, logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        let settings = try PostgresSettings(url: configuration.postgresURL)
        postgres = PostgresClient(
            configuration: settings.clientConfiguration(
                poolSize: configuration.postgresPoolSize, statementTimeout: configuration.postgresStatementTimeout),
            eventLoopGroup: eventLoopGroup, backgroundLogger: logger)
        mongoPool = try MongoConnectionPool(
            uri: configuration.mongoURL, databaseName: configuration.mongoDatabase, size: configuration.mongoPoolSize,
            stats: BackendStats(), logger: logger)
        if let readURL = configuration.postgresReadURL {
            let readSettings = try PostgresSettings(url: readURL, setting: "GATEWAY_POSTGRES_READ_URL")
            readReplica = ReadReplica(
                client: PostgresClient(
                    configuration: readSettings.clientConfiguration(
                        poolSize: configuration.postgresPoolSize,
                        statementTimeout: configuration.postgresStatementTimeout),
                    eventLoopGroup: eventLoopGroup, backgroundLogger: logger),
                maximumLag: configuration.postgresReadMaximumLag, logger: logger)
        } else {
            readReplica = nil
        }
        catalog = HybridCatalog(
            postgres: postgres, mongo: MongoProductCollection(pool: mongoPool), logger: logger,
            readReplica: readReplica)
        writeEventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        writeExecutor = EventLoopTaskExecutor(eventLoop: writeEventLoopGroup.next())
        writePostgres = PostgresClient(
            configuration: settings.clientConfiguration(
                poolSize: Self.writeConnections(poolSize: configuration.postgresPoolSize),
                statementTimeout: configuration.postgresStatementTimeout),
            eventLoopGroup: writeEventLoopGroup, backgroundLogger: logger)
        writeMongoPool = try MongoConnectionPool(
            uri: configuration.mongoURL, databaseName: configuration.mongoDatabase,
            size: Self.writeConnections(poolSize: configuration.mongoPoolSize), stats: BackendStats(), logger: logger)
        writes = HybridCatalog(
            postgres: writePostgres, mongo: MongoProductCollection(pool: writeMongoPool), logger: logger,
            executor: writeExecutor)
    }

    /// Connections reserved for writes: a quarter of the read pool's size, at least 2, at most 8.
    static func writeConnections(poolSize: Int) -> Int { min(8, max(2, poolSize / 4)) }

    /// Runs `body` while the PostgreSQL client's pool runs, then shuts both clients down: for
    /// commands that do one job and exit.
    public static func with<Result: Sendable>(
        configuration: GatewayConfiguration, logger: Logger,
        _ body: @escaping @Sendable (Backends) async throws -> Result
    ) async throws -> Result {
        let backends = try Backends(configuration: configuration, logger: logger)
        let result: Result
        do {
            result = try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask {
                    await backends.postgres.run()
                    return nil
                }
                if let readReplica = backends.readReplica {
                    group.addTask {
                        try await readReplica.run()
                        return nil
                    }
                }
                defer { group.cancelAll() }
                return try await body(backends)
            }
        } catch {
            try? await backends.shutdown()
            throw error
        }
        try await backends.shutdown()
        return result
    }

    /// Closes the MongoDB pools and stops the write thread (the PostgreSQL clients stop with
    /// their `run`).
    public func shutdown() async throws {
        var failure: (any Error)?
        for pool in [mongoPool, writeMongoPool] {
            do { try await pool.shutdown() } catch { failure = failure ?? error }
        }
        writeExecutor.close()
        do { try await writeEventLoopGroup.shutdownGracefully() } catch { failure = failure ?? error }
        if let failure { throw failure }
    }
}
