import Foundation
import PostgresNIO

/// A PostgreSQL URL (`postgres://user:password@host:port/database`) taken apart.
public struct PostgresSettings: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String

    public init(url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql", let host = components.host, !host.isEmpty
        else {
            throw ConfigurationError(
                setting: "GATEWAY_POSTGRES_URL",
                message: "must look like postgres://user@host:port/database, got '\(url)'")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = components.user ?? "postgres"
        self.password = components.password
        let path = components.path.drop { $0 == "/" }
        self.database = path.isEmpty ? self.username : String(path)
    }

    public func clientConfiguration(poolSize: Int) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }
}
