import Foundation

/// A Redis Cluster of its own for a test that takes nodes away (3 masters, 3 replicas, on free
/// loopback ports, `cluster-node-timeout` 2000 ms, nothing on disk but each node's cluster state).
public final class PrivateRedisCluster: Sendable {
    public let nodes: [ServiceProcess]
    public let directory: String

    public var url: String {
        "redis://" + nodes.prefix(3).map { "127.0.0.1:\($0.port)" }.joined(separator: ",") + "?cluster=true"
    }

    private init(nodes: [ServiceProcess], directory: String) {
        self.nodes = nodes
        self.directory = directory
    }

    /// Starts six nodes and joins them with `redis-cli --cluster create`; returns once every
    /// slot is served and every master has its replica.
    public static func start() async throws -> PrivateRedisCluster {
        let server = try TestEnvironment.executable(named: "redis-server")
        let directory = NSTemporaryDirectory() + TestEnvironment.uniqueName("redis-cluster")
        var ports: [Int] = []
        while ports.count < 6 {
            // The cluster bus listens on port + 10,000; both stay below the ephemeral range
            // (32,768 and up), where an outgoing connection may hold a port no listener shows.
            let port = Int.random(in: 12_000..<22_700)
            if !ports.contains(port), !TestEnvironment.isListening(port), !TestEnvironment.isListening(port + 10_000) {
                ports.append(port)
            }
        }
        var nodes: [ServiceProcess] = []
        for port in ports {
            let folder = "\(directory)/\(port)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            nodes.append(
                ServiceProcess(
                    name: "redis-server (cluster node \(port))", port: port, executable: server,
                    arguments: [
                        "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                        "--cluster-enabled", "yes", "--cluster-config-file", "\(folder)/nodes.conf",
                        "--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0", "--dir", folder,
                    ]))
        }
        let cluster = PrivateRedisCluster(nodes: nodes, directory: directory)
        do {
            for node in nodes { try await node.start() }
            try await cluster.run(
                try TestEnvironment.executable(named: "redis-cli"),
                ["--cluster", "create"] + ports.map { "127.0.0.1:\($0)" } + [
                    "--cluster-replicas", "1", "--cluster-yes",
                ])
            try await cluster.waitUntilHealthy(masters: 3)
        } catch {
            await cluster.stop()
            throw error
        }
        return cluster
    }

    /// Waits until every running node says the cluster is ok and `masters` masters each have a
    /// replica in sync (online, so `WAIT 1` can succeed).
    public func waitUntilHealthy(masters: Int, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var healthy = true
            var replicated = 0
            for node in nodes where TestEnvironment.isListening(node.port) {
                let info = (try? await cli(node.port, "cluster", "info")) ?? ""
                if !info.contains("cluster_state:ok") { healthy = false }
                let replication = (try? await cli(node.port, "info", "replication")) ?? ""
                if replication.contains("role:master") && replication.contains("state=online") { replicated += 1 }
            }
            if healthy && replicated >= masters { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ServiceProcess.StartFailure(
            name: "the private redis cluster", reason: "was not healthy within \(timeout)")
    }

    /// The node serving `slot` as master, as `port` sees it.
    public func master(ofSlot slot: Int, askingPort port: Int) async throws -> ServiceProcess? {
        let reply = try await cli(port, "cluster", "nodes")
        for line in reply.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 9, fields[2].contains("master"), !fields[2].contains("fail") else { continue }
            for range in fields[8...] {
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                let covers = bounds.count == 2 ? (bounds[0]...bounds[1]).contains(slot) : bounds.first == slot
                if covers, let colon = fields[1].firstIndex(of: ":"),
                    let port = Int(fields[1][fields[1].index(after: colon)...].prefix { $0 != "@" })
                {
                    return nodes.first { $0.port == port }
                }
            }
        }
        return nil
    }

    /// `redis-cli -p port args...`, its output.
    public func cli(_ port: Int, _ arguments: String...) async throws -> String {
        try await cli(arguments: ["-p", "\(port)"] + arguments)
    }

    /// `redis-cli arguments...`, its output.
    public func cli(arguments: [String]) async throws -> String {
        try await run(try TestEnvironment.executable(named: "redis-cli"), arguments)
    }

    @discardableResult
    private func run(_ executable: String, _ arguments: [String]) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ServiceProcess.StartFailure(
                name: "redis-cli \(arguments.joined(separator: " "))",
                reason: "exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    public func stop() async {
        for node in nodes { await node.stop() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
