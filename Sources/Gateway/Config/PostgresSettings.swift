import Foundation
import PostgresNIO

/// A PostgreSQL URL (`postgres://user:password@host:port/database`) taken apart.
public struct PostgresSettings: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String

    public init(url: String, setting: String = "GATEWAY_POSTGRES_URL") throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql", let host = components.host, !host.isEmpty
        else {
            throw ConfigurationError(
                setting: setting,
                message: "must look like postgres://user@host:port/database, got '\(Self.masked(url))'")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = components.user ?? "postgres"
        self.password = components.password
        let path = components.path.drop { $0 == "/" }
        self.database = path.isEmpty ? self.username : String(path)
    }

    /// Every session commits with `synchronous_commit = on`.
    /// - Parameter statementTimeout: set on every session (`statement_timeout`), so no statement
    ///   runs on in the server after its caller gave up; an idle transaction is ended after twice
    ///   as long.
    public func clientConfiguration(poolSize: Int, statementTimeout: Duration = .seconds(5))
        -> PostgresClient.Configuration
    {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = .seconds(3)
        // Every lease schedules an idle timer and a keep-alive timer as sleeping tasks; a cancelled
        // sleep keeps its memory until its deadline (swiftlang/swift#60441), so the pool holds about
        // 1.4 KB per query for as long as the longer timer (postgres-nio's defaults: 60 s and 30 s,
        // ~420 MB at 5,000 queries/s). Short timers bound it to ~10 s of queries (~70 MB there,
        // measured by loadtests/postgres-memory); the keep-alive also finds a dead connection sooner.
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(5))
        configuration.options.connectionIdleTimeout = .seconds(10)
        let milliseconds = Int64(statementTimeout / .milliseconds(1))
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", "\(milliseconds)"),
            ("idle_in_transaction_session_timeout", "\(milliseconds * 2)"),
            // Whatever the server's default: a write is acknowledged only once its commit is
            // flushed, so it survives a crash of the primary, and a streaming replica receives it
            // at once instead of at the WAL writer's next round (which the read replica's fence
            // would otherwise wait out).
            ("synchronous_commit", "on"),
        ]
        return configuration
    }

    /// The URL with its password masked, for logs and error messages.
    public static func masked(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "****"
        return components.string ?? "(a URL with a password)"
    }
}
