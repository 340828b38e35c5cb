import Crypto
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The commands the cache needs, on one Redis server (a `RedisConnectionPool`) or a Redis Cluster
/// (`RedisCluster`, routing by hash slot). Every call can name the event loop its future should
/// complete on, so a data-plane handler never leaves its own loop.
///
/// On a cluster, a command goes to the master of its key's slot (`key:`), and `MGET`/`DEL` of keys
/// in several slots are split into one command per slot (each atomic on its own, not together).
/// Scripts must name keys of one slot: the cache's do (see docs/cache.md, "Keys").
public final class RedisClient: Sendable, Service {
    public let configuration: RedisConfiguration
    private let backend: Backend
    private let scriptHashes = Mutex<[String: String]>([:])
    /// Nodes whose last `WAIT` came back short, and until when their scripts skip it (see
    /// `evalScript`).
    private let unreplicatedUntil = Mutex<[RedisNodeAddress: NIODeadline]>([:])

    public init(
        configuration: RedisConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        backend =
            configuration.cluster
            ? .cluster(RedisCluster(configuration: configuration, group: group, logger: logger))
            : .single(RedisConnectionPool(configuration: configuration, group: group, logger: logger))
    }

    private enum Backend: Sendable {
        case single(RedisConnectionPool)
        case cluster(RedisCluster)
    }

    private var cluster: RedisCluster? {
        if case .cluster(let cluster) = backend { return cluster }
        return nil
    }

    public var isCluster: Bool { cluster != nil }

    /// On a cluster, the master this client sends `slot`'s commands to now (`nil` on one server).
    public func master(ofSlot slot: Int) -> RedisNodeAddress? { cluster?.owner(of: slot) }

    /// Where a subscriber may connect: the server, or every cluster node known now (seeds first).
    public var knownNodes: [RedisNodeAddress] { cluster?.knownNodes ?? configuration.nodes }

    /// Keeps the client alive until shutdown (rereading a cluster's topology every
    /// `topologyRefreshInterval`), then closes its connections.
    public func run() async throws {
        if let cluster {
            let interval = Duration.nanoseconds(configuration.topologyRefreshInterval.nanoseconds)
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if Task.isCancelled { break }
                    try? await cluster.refresh(force: true, on: MultiThreadedEventLoopGroup.singleton.next()).get()
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        await close()
    }

    public func close() async {
        switch backend {
        case .single(let pool): await pool.close()
        case .cluster(let cluster): await cluster.close()
        }
    }

    /// Sends one command: on a cluster, to the master of `key`'s slot (any master without a key).
    public func send(_ command: RESPCommand, key: String? = nil, on eventLoop: (any EventLoop)? = nil)
        -> EventLoopFuture<RESPValue>
    {
        if case .single(let pool) = backend { return pool.send(command, on: eventLoop) }
        return pipeline([command], key: key, on: eventLoop).flatMapThrowing { try $0[0].get() }
    }

    /// Sends `commands` back to back on one connection (on a cluster, of the master of `key`'s
    /// slot); one result per command. What one command does to the connection (`WAIT`, `ASKING`)
    /// therefore applies to the next.
    ///
    /// Not public: after a redirection every command is sent again, which is right for the
    /// pipelines built here (a script and its `WAIT`), not for any list of writes.
    func pipeline(_ commands: [RESPCommand], key: String?, on eventLoop: (any EventLoop)? = nil)
        -> EventLoopFuture<[Result<RESPValue, any Error>]>
    {
        let pool: RedisConnectionPool
        switch backend {
        case .single(let single): pool = single
        case .cluster(let cluster): return cluster.send(commands, slot: key.map(HashSlot.of), on: eventLoop)
        }
        let replies = pool.connection(preferring: eventLoop).flatMap { connection in
            EventLoopFuture.whenAllComplete(commands.map { connection.send($0) }, on: connection.eventLoop)
        }
        guard let eventLoop else { return replies }
        return replies.hop(to: eventLoop)
    }

    /// Sends `command` to every master (one server: to it), for commands about the whole keyspace
    /// (`KEYS`, `SCRIPT FLUSH`).
    public func sendToEveryMaster(_ command: RESPCommand) async throws -> [RESPValue] {
        if let cluster { return try await cluster.sendToEveryMaster(command) }
        return [try await send(command).get()]
    }

    public func ping(on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<Void> {
        send(RESPCommand("PING"), on: eventLoop).map { _ in }
    }

    public func get(_ key: String, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<ByteBuffer?> {
        send(RESPCommand("GET", [.string(key)]), key: key, on: eventLoop).map(\.buffer)
    }

    /// `SET key value [PX milliseconds]`.
    public func set(
        _ key: String, _ value: ByteBuffer, expireMilliseconds: Int64? = nil, on eventLoop: (any EventLoop)? = nil
    )
        -> EventLoopFuture<Void>
    {
        var arguments: [RESPArgument] = [.string(key), .bytes(value)]
        if let expireMilliseconds { arguments += ["PX", .integer(expireMilliseconds)] }
        return send(RESPCommand("SET", arguments), key: key, on: eventLoop).map { _ in }
    }

    /// Values of many keys in one round trip (one per slot on a cluster); `nil` where a key is missing.
    public func mget(_ keys: [String], on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<[ByteBuffer?]> {
        if cluster != nil, keys.count > 1 {
            let groups = Self.groupedBySlot(keys)
            if groups.count > 1 {
                let loop = eventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
                let parts = groups.map { indices in
                    self.mget(indices.map { keys[$0] }, on: loop).map { (indices, $0) }
                }
                return EventLoopFuture.whenAllSucceed(parts, on: loop).flatMapThrowing { parts in
                    var values = [ByteBuffer?](repeating: nil, count: keys.count)
                    for (indices, part) in parts {
                        guard part.count == indices.count else {
                            throw RedisError.protocolViolation("MGET answered a wrong count")
                        }
                        for (index, value) in zip(indices, part) { values[index] = value }
                    }
                    return values
                }
            }
        }
        return send(RESPCommand("MGET", keys.map { .string($0) }), key: keys.first, on: eventLoop)
            .flatMapThrowing { reply in
                guard let values = reply.array else {
                    throw RedisError.protocolViolation("MGET did not return an array")
                }
                return values.map(\.buffer)
            }
    }

    @discardableResult
    public func del(_ keys: [String], on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<Int64> {
        if cluster != nil, keys.count > 1 {
            let groups = Self.groupedBySlot(keys)
            if groups.count > 1 {
                let loop = eventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
                let parts = groups.map { self.del($0.map { keys[$0] }, on: loop) }
                return EventLoopFuture.whenAllSucceed(parts, on: loop).map { $0.reduce(0, +) }
            }
        }
        return send(RESPCommand("DEL", keys.map { .string($0) }), key: keys.first, on: eventLoop).map {
            $0.integer ?? 0
        }
    }

    public func incr(_ key: String, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<Int64> {
        send(RESPCommand("INCR", [.string(key)]), key: key, on: eventLoop).map { $0.integer ?? 0 }
    }

    public func expire(_ key: String, seconds: Int64, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<Bool> {
        send(RESPCommand("EXPIRE", [.string(key), .integer(seconds)]), key: key, on: eventLoop).map { $0.integer == 1 }
    }

    /// Publishes on `channel`. On a cluster a classic `PUBLISH` reaches the subscribers of every
    /// node, whichever node it is sent to.
    @discardableResult
    public func publish(_ channel: String, _ message: String, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<
        Int64
    > {
        send(RESPCommand("PUBLISH", [.string(channel), .string(message)]), on: eventLoop).map { $0.integer ?? 0 }
    }

    /// Runs a Lua script by its SHA1 (`EVALSHA`), or by its source (`EVAL`, which also caches it
    /// on the node that runs it) when that node does not know it (`NOSCRIPT`): on a cluster a
    /// redirection may land on a node that never saw the script. The keys must share one slot on
    /// a cluster (the script runs on that slot's master).
    ///
    /// With `acknowledgedBy` replicas, a `WAIT` follows the script on the same connection, and the
    /// call fails with `RedisError.notReplicated` unless that many replicas have its writes within
    /// `configuration.acknowledgeTimeout` (the writes stand on the master; the caller retries).
    public func evalScript(
        _ source: String, keys: [String], arguments: [RESPArgument], acknowledgedBy replicas: Int = 0,
        on eventLoop: (any EventLoop)? = nil
    ) -> EventLoopFuture<RESPValue> {
        let key = keys.first
        let sha = scriptHashes.withLock { hashes in
            if let known = hashes[source] { return known }
            let hex = Array("0123456789abcdef".utf8)
            var digest = ""
            for byte in Insecure.SHA1.hash(data: Array(source.utf8)) {
                digest.unicodeScalars.append(UnicodeScalar(hex[Int(byte >> 4)]))
                digest.unicodeScalars.append(UnicodeScalar(hex[Int(byte & 0x0F)]))
            }
            hashes[source] = digest
            return digest
        }
        let tail: [RESPArgument] = [.integer(Int64(keys.count))] + keys.map { .string($0) } + arguments
        let run: @Sendable (RESPCommand) -> EventLoopFuture<RESPValue> = { script in
            guard replicas > 0 else { return self.send(script, key: key, on: eventLoop) }
            return self.acknowledged(script, key: key, by: replicas, on: eventLoop)
        }
        let first = run(RESPCommand("EVALSHA", [.string(sha)] + tail))
        return first.flatMapError { error in
            if case RedisError.server(let message) = error, message.hasPrefix("NOSCRIPT") {
                return run(RESPCommand("EVAL", [.string(source)] + tail))
            }
            return first.eventLoop.makeFailedFuture(error)
        }
    }

    /// Runs `script` followed by `WAIT replicas`, on one connection; fails with `notReplicated`
    /// when fewer replicas acknowledged it in time (the script's writes stand on the master).
    ///
    /// A node whose last WAIT came back short (a shard without a replica) has its scripts run
    /// without one for a second, reported not replicated at once: WAITs that each block the
    /// connection for their timeout would pile up behind one another past the command timeout,
    /// which closes the connection and fails everything pipelined on it. The node is the one the
    /// map names after the script ran (the first command of a cluster client reads the map).
    private func acknowledged(_ script: RESPCommand, key: String?, by replicas: Int, on eventLoop: (any EventLoop)?)
        -> EventLoopFuture<RESPValue>
    {
        let slot = key.map(HashSlot.of)
        let cluster = self.cluster
        let seed = configuration.nodes[0]
        let currentNode: @Sendable () -> RedisNodeAddress = { slot.flatMap { cluster?.owner(of: $0) } ?? seed }
        if unreplicatedUntil.withLock({ $0[currentNode()] }).map({ $0 > .now() }) ?? false {
            return send(script, key: key, on: eventLoop).flatMapThrowing { _ in
                throw RedisError.notReplicated(acknowledged: 0, wanted: replicas)
            }
        }
        let wait = RESPCommand("WAIT", [.integer(Int64(replicas)), .integer(configuration.acknowledgeMilliseconds)])
        return pipeline([script, wait], key: key, on: eventLoop).flatMapThrowing { results in
            let reply = try results[0].get()
            let acknowledged = try results[1].get().integer ?? 0
            let node = currentNode()
            guard acknowledged >= replicas else {
                self.unreplicatedUntil.withLock { $0[node] = .now() + .seconds(1) }
                throw RedisError.notReplicated(acknowledged: Int(acknowledged), wanted: replicas)
            }
            self.unreplicatedUntil.withLock { _ = $0.removeValue(forKey: node) }
            return reply
        }
    }

    /// The positions of `keys`, grouped by hash slot, in order of first appearance.
    static func groupedBySlot(_ keys: [String]) -> [[Int]] {
        var groups: [[Int]] = []
        var groupOfSlot: [Int: Int] = [:]
        for (index, key) in keys.enumerated() {
            let slot = HashSlot.of(key)
            if let group = groupOfSlot[slot] {
                groups[group].append(index)
            } else {
                groupOfSlot[slot] = groups.count
                groups.append([index])
            }
        }
        return groups
    }
}

extension RedisClient {
    public func get(_ key: String) async throws -> ByteBuffer? { try await get(key, on: nil).get() }
    public func set(_ key: String, _ value: ByteBuffer, expireMilliseconds: Int64? = nil) async throws {
        try await set(key, value, expireMilliseconds: expireMilliseconds, on: nil).get()
    }
    public func mget(_ keys: [String]) async throws -> [ByteBuffer?] { try await mget(keys, on: nil).get() }
    public func incr(_ key: String) async throws -> Int64 { try await incr(key, on: nil).get() }
    public func ping() async throws { try await ping(on: nil).get() }
}
