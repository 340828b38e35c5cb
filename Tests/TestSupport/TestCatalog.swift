import Foundation
import Hybrid
import Logging
import PostgresNIO
import Testing

/// A fresh PostgreSQL database and MongoDB database for one test, migrated, dropped afterwards.
/// Tests run in parallel; each one has stores of its own.
public struct TestCatalog: Sendable {
    public let catalog: HybridCatalog
    public let mongoPool: MongoConnectionPool
    public let invalidator: RecordingInvalidator
    /// The name of its PostgreSQL database (and of its MongoDB database).
    public let database: String

    public var mongo: MongoProductCollection { catalog.mongo }
    public var stats: BackendStats { catalog.stats }

    public func writer() -> ProductWriter { ProductWriter(catalog: catalog, invalidator: invalidator) }
    public func relay() -> OutboxRelay { OutboxRelay(catalog: catalog, invalidator: invalidator) }

    /// Runs `body` with new, migrated stores; `mongoURL` overrides the shared MongoDB (fault tests).
    public static func with<Result: Sendable>(
        mongoURL: String? = nil,
        _ body: @escaping @Sendable (TestCatalog) async throws -> Result
    ) async throws -> Result {
        let logger = {
            var logger = Logger(label: "test")
            logger.logLevel = .warning
            return logger
        }()
        let server = try PostgresServer(url: try TestEnvironment.postgresURL)
        let database = TestEnvironment.uniqueName("test")
        try await server.admin(logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger)
        }
        let postgres = PostgresClient(configuration: server.configuration(database: database), backgroundLogger: logger)
        let mongoPool = try MongoConnectionPool(
            uri: mongoURL ?? (try TestEnvironment.mongoURL), databaseName: database, size: 4, stats: BackendStats(),
            logger: logger)
        let catalog = HybridCatalog(postgres: postgres, mongo: MongoProductCollection(pool: mongoPool), logger: logger)
        let test = TestCatalog(
            catalog: catalog, mongoPool: mongoPool, invalidator: RecordingInvalidator(), database: database)
        let outcome: Swift.Result<Result, any Error>
        do {
            let value = try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask {
                    await postgres.run()
                    return nil
                }
                defer { group.cancelAll() }
                try await Migrator(catalog: catalog).migrate()
                let value = try await body(test)
                try? await catalog.mongo.dropDatabase()
                return value
            }
            outcome = .success(value)
        } catch {
            outcome = .failure(error)
        }
        try? await mongoPool.shutdown()
        try? await server.admin(logger: logger) { client in
            try await client.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"), logger: logger)
        }
        return try outcome.get()
    }

    /// Seeds the deterministic catalog through the importer.
    @discardableResult
    public func seed(_ generator: CatalogGenerator) async throws -> CatalogImporter.Summary {
        try await CatalogImporter(catalog: catalog, batchSize: 250).importRecords(generator, count: generator.count)
    }
}

/// The PostgreSQL server the scripts started, reached through its admin database.
public struct PostgresServer: Sendable {
    public let host: String
    public let port: Int
    public let username: String
    public let password: String?

    public init(url: String) throws {
        guard let components = URLComponents(string: url), let host = components.host else {
            throw TestEnvironment.MissingService(name: "a valid GATEWAY_POSTGRES_URL")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = components.user ?? "postgres"
        self.password = components.password
    }

    public func configuration(database: String) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        configuration.options.maximumConnections = 10
        return configuration
    }

    public func admin(logger: Logger, _ body: @escaping @Sendable (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: configuration(database: "postgres"), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }
}

/// Records the tags writes ask to invalidate. Stands in for the cache only where the test is about
/// which tags the hybrid model names; the cache itself is tested against a real Redis.
public final class RecordingInvalidator: TagInvalidator, @unchecked Sendable {
    public init() {}
    private let lock = NSLock()
    private var recorded: [[CatalogTag]] = []
    private var failing = false

    public func invalidate(_ tags: [CatalogTag]) async throws {
        try lock.withLock {
            if failing { throw CacheDown() }
            recorded.append(tags)
        }
    }

    public var calls: [[CatalogTag]] { lock.withLock { recorded } }
    public func setFailing(_ value: Bool) { lock.withLock { failing = value } }
    public func reset() { lock.withLock { recorded.removeAll() } }

    public struct CacheDown: Error {}
}
