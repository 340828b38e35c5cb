import Logging
import PostgresNIO

/// Applies the migrations a database lacks, each in its own transaction, under an advisory lock so
/// that two processes starting at once do not both apply one; then ensures MongoDB's indexes.
public struct Migrator: Sendable {
    let catalog: HybridCatalog
    let migrations: [Migration]

    public init(catalog: HybridCatalog, migrations: [Migration] = Migration.all) {
        self.catalog = catalog
        self.migrations = migrations
    }

    /// - Returns: the versions applied now (empty when the schema was current).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let logger = catalog.logger
        try await catalog.sql(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """)
        var applied: [Int] = []
        for migration in migrations {
            let done = try await catalog.postgres.withTransaction(logger: logger) { connection -> Bool in
                // Migrations may rewrite large tables: no statement timeout for them.
                try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
                try await connection.query("SELECT pg_advisory_xact_lock(72400017)", logger: logger)
                let rows = try await connection.query(
                    "SELECT 1 FROM schema_migrations WHERE version = \(migration.version)", logger: logger)
                for try await _ in rows { return false }
                func run(_ statements: [String]) async throws {
                    for statement in statements {
                        do {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        } catch {
                            throw HybridError.migrationFailed(
                                version: migration.version, reason: String(reflecting: error))
                        }
                    }
                }
                try await run(migration.statements)
                if let backfill = migration.backfill {
                    do {
                        try await backfill(catalog, connection)
                    } catch {
                        throw HybridError.migrationFailed(version: migration.version, reason: String(reflecting: error))
                    }
                }
                try await run(migration.finally)
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger)
                return true
            }
            if done {
                logger.info(
                    "applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        do {
            try await catalog.mongo.ensureIndexes()
        } catch let error as MongoError {
            throw error.hybridError
        }
        return applied
    }

    /// The versions of this build's migrations the database has not recorded (all of them when
    /// it has never been migrated).
    public func pendingVersions() async throws -> [Int] {
        let rows = try await catalog.sql("SELECT to_regclass('schema_migrations') IS NOT NULL")
        var exists = false
        for try await value in rows.decode(Bool.self) { exists = value }
        let applied = exists ? Set(try await appliedVersions()) : []
        return migrations.map(\.version).filter { !applied.contains($0) }
    }

    /// The versions recorded in the database.
    public func appliedVersions() async throws -> [Int] {
        var versions: [Int] = []
        let rows = try await catalog.sql("SELECT version FROM schema_migrations ORDER BY version")
        for try await version in rows.decode(Int.self) { versions.append(version) }
        return versions
    }
}
