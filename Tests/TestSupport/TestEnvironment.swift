import Foundation
import Testing

/// Where the services that `scripts/test` started are. A missing variable fails the test: the
/// suite never silently skips because a service is absent.
public enum TestEnvironment {
    public static func required(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            Issue.record("\(name) is not set: run the tests through scripts/test, which starts the services")
            throw MissingService(name: name)
        }
        return value
    }

    public static var postgresURL: String { get throws { try required("GATEWAY_POSTGRES_URL") } }
    public static var mongoURL: String { get throws { try required("GATEWAY_MONGO_URL") } }
    public static var secantusPython: String { get throws { try required("GATEWAY_SECANTUS_PYTHON") } }
    public static var redisURL: String { get throws { try required("GATEWAY_REDIS_URL") } }
    /// The streaming replica `scripts/services` runs beside PostgreSQL (its default database).
    public static var postgresReplicaURL: String { get throws { try required("GATEWAY_POSTGRES_REPLICA_URL") } }
    /// The seed nodes of the Redis Cluster `scripts/services start redis-cluster` runs.
    public static var redisClusterURL: String { get throws { try required("GATEWAY_REDIS_CLUSTER_URL") } }

    public struct MissingService: Error, CustomStringConvertible {
        public let name: String
        public init(name: String) { self.name = name }
        public var description: String { "\(name) is not set" }
    }

    /// The full path of a program on PATH.
    public static func executable(named name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        Issue.record("\(name) is not installed: run scripts/setup")
        throw MissingService(name: name)
    }

    /// A command the scripts installed in their Python virtual environment (beside SecantusDB).
    public static func venvTool(named name: String) throws -> String {
        let python = try secantusPython
        let path = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(name) is not installed in the scripts' virtual environment: run scripts/setup")
            throw MissingService(name: name)
        }
        return path
    }

    /// A name no other test uses, safe as a database name.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UInt64.random(in: 0..<UInt64.max) & 0xFFFF_FFFF_FFFF)"
    }

    /// A TCP port nothing listens on right now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw MissingService(name: "a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts connections on 127.0.0.1:`port`.
    public static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
