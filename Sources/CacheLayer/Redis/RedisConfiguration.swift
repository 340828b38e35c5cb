import Foundation
import NIOCore

/// Where Redis is and how long to wait for it.
public struct RedisConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var password: String?
    public var username: String?
    public var database: Int
    public var connectTimeout: TimeAmount = .milliseconds(500)
    public var commandTimeout: TimeAmount = .milliseconds(500)
    /// Connections per event loop; commands pipeline on each.
    public var connectionsPerEventLoop: Int = 1

    /// Parses `redis://[[user]:password@]host[:port][/db]`.
    public init(url: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "redis", let host = components.host,
            !host.isEmpty
        else { throw RedisError.invalidURL(Self.masked(url)) }
        self.host = host
        self.port = components.port ?? 6379
        self.password = components.password.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        self.username = components.user.flatMap { $0.isEmpty ? nil : $0 }
        let path = components.path.drop { $0 == "/" }
        if path.isEmpty {
            database = 0
        } else if let number = Int(path), number >= 0 {
            database = number
        } else {
            throw RedisError.invalidURL(Self.masked(url))
        }
    }

    /// The URL with any password masked, for logs and errors.
    public static func masked(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://"), scheme.upperBound < at else {
            return url
        }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<credentials.index(after: colon)]) + "****" + String(url[at...])
    }
}
