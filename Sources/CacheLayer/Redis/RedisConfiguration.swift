import NIOCore

/// A Redis server's address.
public struct RedisNodeAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Where Redis is and how long to wait for it.
public struct RedisConfiguration: Sendable {
    /// The seed nodes: the one server, or where a cluster's topology is first read.
    public var nodes: [RedisNodeAddress]
    /// A Redis Cluster: commands are routed by hash slot, the topology is read with `CLUSTER SLOTS`.
    public var cluster: Bool
    public var password: String?
    public var username: String?
    public var database: Int
    /// Replicas that must hold an invalidation before it counts as delivered (`WAIT`): 1 by
    /// default on a cluster, so a failover cannot lose one; 0 (no wait) on a single server.
    public var replicasToAcknowledge: Int
    /// How long a `WAIT` may block for them. Kept well below `commandTimeout` (see
    /// `acknowledgeMilliseconds`): a `WAIT` holds its connection, and a command timeout would
    /// close it and fail every command pipelined behind.
    public var acknowledgeTimeout: TimeAmount = .milliseconds(200)
    public var connectTimeout: TimeAmount = .milliseconds(500)
    public var commandTimeout: TimeAmount = .milliseconds(500)
    /// How often a cluster client rereads the topology when nothing told it to.
    public var topologyRefreshInterval: TimeAmount = .seconds(10)
    /// Connections per event loop (per node on a cluster); commands pipeline on each.
    public var connectionsPerEventLoop: Int = 1

    /// The `WAIT` timeout in milliseconds: `acknowledgeTimeout`, at most half the command timeout,
    /// at least 1 (`WAIT n 0` would block for ever).
    public var acknowledgeMilliseconds: Int64 {
        max(1, min(acknowledgeTimeout.nanoseconds, commandTimeout.nanoseconds / 2) / 1_000_000)
    }

    /// The first seed node.
    public var host: String { nodes[0].host }
    public var port: Int { nodes[0].port }

    static let expectedForm =
        "redis://[[user]:password@]host[:port][,host[:port]...][/db][?cluster=true&replicas=N]"

    /// Parses `redis://[[user]:password@]host[:port][,host[:port]...][/db][?cluster=true&replicas=N]`.
    /// More than one host needs `cluster=true`; a cluster has only database 0.
    public init(url: String) throws {
        let masked = Self.masked(url)
        func invalid(_ reason: String) -> RedisError { .invalidURL(masked, reason: reason) }
        guard url.hasPrefix("redis://") else { throw invalid("the scheme must be redis://") }
        var rest = Substring(url.dropFirst("redis://".count))
        var query: Substring = ""
        // The credentials first: a password may hold a `?` or a `/`.
        let credentialsEnd = rest.lastIndex(of: "@")
        if let mark = rest[(credentialsEnd.map { rest.index(after: $0) } ?? rest.startIndex)...].firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        if let at = credentialsEnd {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                let password = credentials[credentials.index(after: colon)...]
                username = user.isEmpty ? nil : String(user).removingPercentEncodingIfPossible
                self.password = password.isEmpty ? nil : String(password).removingPercentEncodingIfPossible
            } else {
                username = nil
                password = credentials.isEmpty ? nil : String(credentials).removingPercentEncodingIfPossible
            }
        } else {
            username = nil
            password = nil
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        nodes = []
        guard !rest.isEmpty else { throw invalid("no host") }
        for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
            guard let node = Self.node(part) else { throw invalid("'\(part)' is not host[:port] (port 1-65535)") }
            nodes.append(node)
        }
        guard !nodes.isEmpty else { throw invalid("no host") }
        if path.isEmpty {
            database = 0
        } else if let number = Int(path), number >= 0 {
            database = number
        } else {
            throw invalid("the database must be a number, not '\(path)'")
        }
        var cluster = false
        var replicas: Int?
        for item in query.split(separator: "&") where !item.isEmpty {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let value = pair.count == 2 ? pair[1] : ""
            switch pair[0] {
            case "cluster":
                switch value {
                case "true", "yes", "1", "on": cluster = true
                case "false", "no", "0", "off": cluster = false
                default: throw invalid("cluster must be true or false, not '\(value)'")
                }
            case "replicas":
                guard let number = Int(value), (0...16).contains(number) else {
                    throw invalid("replicas must be a number from 0 to 16, not '\(value)'")
                }
                replicas = number
            default:
                throw invalid("unknown option '\(pair[0])' (known: cluster, replicas)")
            }
        }
        if nodes.count > 1 && !cluster {
            throw invalid("several hosts are the seed nodes of a Redis Cluster: add ?cluster=true")
        }
        if cluster && database != 0 {
            throw invalid("a Redis Cluster has only database 0, and this URL names database \(database)")
        }
        self.cluster = cluster
        replicasToAcknowledge = replicas ?? (cluster ? 1 : 0)
    }

    private static func node(_ text: Substring) -> RedisNodeAddress? {
        var host = text
        var port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                port = after.dropFirst()
            }
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(where: { $0 == "/" || $0 == "@" || $0 == " " }) else { return nil }
        guard let port else { return RedisNodeAddress(host: String(host), port: 6379) }
        guard port.count <= 5, let number = Int(port), (1...65535).contains(number) else { return nil }
        return RedisNodeAddress(host: String(host), port: number)
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

extension String {
    /// Percent-decoded, or unchanged when it is not valid percent-encoding.
    fileprivate var removingPercentEncodingIfPossible: String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
            else { return self }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
