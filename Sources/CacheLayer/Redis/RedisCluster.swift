import Logging
import NIOCore
import Synchronization

/// Routes commands to the masters of a Redis Cluster by hash slot, over one `RedisConnectionPool`
/// per node (pipelined connections per event loop, as on a single server).
///
/// The slot map comes from `CLUSTER SLOTS`, read from any node that answers (the seeds first,
/// then every node seen since). It is reread when a reply says it is wrong and every
/// `topologyRefreshInterval`:
/// - `MOVED slot host:port`: the slot has a new owner for good: the map is corrected at once (and
///   reread in the background), and the command retried there;
/// - `ASK slot host:port`: the slot is migrating and this key already moved: the command is sent
///   once to that node after `ASKING`, and the map is left alone;
/// - `TRYAGAIN` (a multi-key command during a migration) and `CLUSTERDOWN`: retried after 25, 50,
///   100, 200 ms (the map is reread on `CLUSTERDOWN`), then the error is returned;
/// - a node that cannot be reached: the map is reread (a failover promotes a replica) and the
///   error returned, so the cache goes to the databases instead of waiting.
/// At most `maxAttempts` tries per command; then the last error is returned.
final class RedisCluster: Sendable {
    let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state: Mutex<State>
    static let maxAttempts = 5

    struct State {
        /// The master of each slot; `nil` until the first read or for a slot no node serves.
        var owners: [RedisNodeAddress?] = Array(repeating: nil, count: HashSlot.count)
        var pools: [RedisNodeAddress: RedisConnectionPool] = [:]
        /// The seeds, then every node the last topology named.
        var known: [RedisNodeAddress]
        var refreshing: EventLoopFuture<Void>?
        var lastRefresh: NIODeadline = .distantPast
        var hasTopology = false
    }

    init(configuration: RedisConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        state = Mutex(State(known: configuration.nodes))
    }

    /// The nodes known now (seeds, then those the topology named): where a subscriber may connect.
    var knownNodes: [RedisNodeAddress] { state.withLock { $0.known } }

    /// The master serving `slot` in the current map.
    func owner(of slot: Int) -> RedisNodeAddress? { state.withLock { $0.owners[slot] } }

    /// Sends `commands` pipelined on one connection to the master of `slot` (slot 0's when `nil`),
    /// following redirections; one result per command.
    func send(_ commands: [RESPCommand], slot: Int?, on eventLoop: (any EventLoop)?) -> EventLoopFuture<
        [Result<RESPValue, any Error>]
    > {
        let loop = eventLoop ?? group.next()
        return attempt(commands, slot: slot, asking: nil, attempt: 1, on: loop)
    }

    /// Sends `command` to every master (for commands about a whole keyspace, such as `KEYS`).
    func sendToEveryMaster(_ command: RESPCommand) async throws -> [RESPValue] {
        try await topologyReady(on: group.next()).get()
        let masters = state.withLock { Set($0.owners.compactMap { $0 }) }
        var replies: [RESPValue] = []
        for master in masters.sorted(by: { $0.description < $1.description }) {
            replies.append(try await pool(for: master).send(command).get())
        }
        return replies
    }

    func close() async {
        let pools = state.withLock { Array($0.pools.values) }
        for pool in pools { await pool.close() }
    }

    // MARK: - Routing

    private func attempt(
        _ commands: [RESPCommand], slot: Int?, asking: RedisNodeAddress?, attempt: Int, on loop: any EventLoop
    ) -> EventLoopFuture<[Result<RESPValue, any Error>]> {
        topologyReady(on: loop).flatMap { () -> EventLoopFuture<[Result<RESPValue, any Error>]> in
            guard let node = asking ?? self.node(for: slot) else {
                self.refresh(force: true, on: loop)
                return loop.makeFailedFuture(RedisError.cluster("no master serves slot \(slot ?? -1)"))
            }
            return self.pool(for: node).connection(preferring: loop).flatMap { connection in
                var replies: [EventLoopFuture<RESPValue>] = []
                if asking != nil { replies.append(connection.send(RESPCommand("ASKING"))) }
                for command in commands { replies.append(connection.send(command)) }
                return EventLoopFuture.whenAllComplete(replies, on: connection.eventLoop)
                    .map { Array($0.dropFirst(asking == nil ? 0 : 1)) }
            }
            .hop(to: loop)
            .flatMap { results in
                guard let redirect = results.lazy.compactMap(Redirect.init).first?.resolving(against: node) else {
                    return loop.makeSucceededFuture(results)
                }
                guard attempt < Self.maxAttempts else {
                    return loop.makeFailedFuture(RedisError.cluster("gave up after \(attempt) tries: \(redirect)"))
                }
                switch redirect {
                case .moved(let movedSlot, let target):
                    self.state.withLock { $0.owners[movedSlot] = target }
                    self.refresh(force: false, on: loop)
                    // A command sent without a key goes where the redirection says, too.
                    return self.attempt(
                        commands, slot: slot ?? movedSlot, asking: nil, attempt: attempt + 1, on: loop)
                case .ask(_, let target):
                    return self.attempt(commands, slot: slot, asking: target, attempt: attempt + 1, on: loop)
                case .tryAgain, .clusterDown:
                    if case .clusterDown = redirect { self.refresh(force: true, on: loop) }
                    // 25, 50, 100, 200 ms: 375 ms in all, within a command timeout.
                    return loop.scheduleTask(in: .milliseconds(25 << Int64(attempt - 1))) {}.futureResult.flatMap {
                        self.attempt(commands, slot: slot, asking: nil, attempt: attempt + 1, on: loop)
                    }
                }
            }
            .flatMapError { error in
                // The node is gone or unreachable: a failover may have moved its slots. Reread the
                // map for the next command; this one fails now (the cache bypasses Redis).
                if case RedisError.cluster = error { return loop.makeFailedFuture(error) }
                self.refresh(force: false, on: loop)
                return loop.makeFailedFuture(error)
            }
        }
    }

    private func node(for slot: Int?) -> RedisNodeAddress? {
        state.withLock { state in
            if let slot { return state.owners[slot] }
            // Without a key, always the same node (slot 0's master), so that a `SCRIPT LOAD` and the
            // `EVALSHA` after it meet.
            return state.owners[0] ?? state.known.first
        }
    }

    func pool(for node: RedisNodeAddress) -> RedisConnectionPool {
        state.withLock { state in
            if let pool = state.pools[node] { return pool }
            let pool = RedisConnectionPool(configuration: configuration, node: node, group: group, logger: logger)
            state.pools[node] = pool
            return pool
        }
    }

    // MARK: - Topology

    /// Succeeds once a slot map was read (the first command waits for it).
    private func topologyReady(on loop: any EventLoop) -> EventLoopFuture<Void> {
        if state.withLock({ $0.hasTopology }) { return loop.makeSucceededVoidFuture() }
        return refresh(force: true, on: loop)
    }

    /// Rereads the slot map unless a read is running (then joins it) or, unless `force`, one
    /// finished less than 250 ms ago.
    @discardableResult
    func refresh(force: Bool, on loop: any EventLoop) -> EventLoopFuture<Void> {
        enum Next {
            case join(EventLoopFuture<Void>)
            case skip
            case read(EventLoopPromise<Void>, [RedisNodeAddress])
        }
        let next: Next = state.withLock { state in
            if let running = state.refreshing { return .join(running) }
            if !force, state.hasTopology, NIODeadline.now() - state.lastRefresh < .milliseconds(250) { return .skip }
            let promise = loop.makePromise(of: Void.self)
            state.refreshing = promise.futureResult
            // The masters of the current map first (they answer, or a failover is under way),
            // then every other node known; the seeds are where a first read starts.
            var masters: [RedisNodeAddress] = []
            for owner in state.owners { if let owner, !masters.contains(owner) { masters.append(owner) } }
            masters.shuffle()
            return .read(promise, masters + state.known.filter { !masters.contains($0) })
        }
        let promise: EventLoopPromise<Void>
        let nodes: [RedisNodeAddress]
        switch next {
        case .join(let running): return running.hop(to: loop)
        case .skip: return loop.makeSucceededVoidFuture()
        case .read(let reading, let known): (promise, nodes) = (reading, known)
        }
        let seeds = configuration.nodes
        readSlots(from: nodes[...], on: loop).whenComplete { result in
            let retired: [RedisConnectionPool] = self.state.withLock { state in
                state.refreshing = nil
                state.lastRefresh = .now()
                guard case .success(let map) = result else { return [] }
                state.owners = map.owners
                state.hasTopology = true
                // Known: the seeds and the nodes of this map. A node that left the cluster (a
                // pod replaced with a new address) is forgotten and its connections closed.
                state.known = seeds + map.nodes.filter { !seeds.contains($0) }
                let keep = Set(state.known)
                let gone = state.pools.filter { !keep.contains($0.key) }
                for node in gone.keys { state.pools[node] = nil }
                return Array(gone.values)
            }
            if !retired.isEmpty {
                Task { for pool in retired { await pool.close() } }
            }
            switch result {
            case .success: promise.succeed(())
            case .failure(let error):
                self.logger.warning("cannot read the Redis Cluster topology", metadata: ["error": "\(error)"])
                promise.fail(error)
            }
        }
        return promise.futureResult
    }

    /// The first map, among the nodes in turn, that gives every slot a master. A node that
    /// answers with a partial or empty map (restarted without its cluster state, or cut off from
    /// the others) is passed over; if none gives a whole map, the fullest one is taken only when
    /// there is no map yet.
    private func readSlots(from nodes: ArraySlice<RedisNodeAddress>, on loop: any EventLoop, best: SlotMap? = nil)
        -> EventLoopFuture<SlotMap>
    {
        guard let node = nodes.first else {
            let hasTopology = state.withLock { $0.hasTopology }
            if let best, !hasTopology, best.coverage > 0 { return loop.makeSucceededFuture(best) }
            return loop.makeFailedFuture(
                RedisError.cluster(
                    best.map { "no node knows a master for every slot (at best \($0.coverage) of 16384)" }
                        ?? "no Redis Cluster node answered CLUSTER SLOTS"))
        }
        return pool(for: node).send(RESPCommand("CLUSTER", ["SLOTS"]), on: loop)
            .flatMapThrowing { try SlotMap(clusterSlots: $0, askedNode: node) }
            .flatMap { map in
                if map.coverage == HashSlot.count { return loop.makeSucceededFuture(map) }
                let fuller = (best?.coverage ?? -1) >= map.coverage ? best : map
                return self.readSlots(from: nodes.dropFirst(), on: loop, best: fuller)
            }
            .flatMapError { _ in self.readSlots(from: nodes.dropFirst(), on: loop, best: best) }
    }
}

/// The slot ranges of a `CLUSTER SLOTS` reply.
struct SlotMap: Sendable, Equatable {
    var owners: [RedisNodeAddress?]
    /// Every node named, masters and replicas.
    var nodes: [RedisNodeAddress]
    /// How many slots have a master.
    var coverage: Int

    /// Reads `[[start, end, [host, port, id...], [replica...]...]...]`. A null or empty host means
    /// the node that was asked (Redis's "unknown endpoint"); a node entry that cannot be used (host
    /// `?`, port 0 for a TLS-only node, malformed) is skipped, and a range whose master is one of
    /// those has no owner (its first replica is not its master).
    init(clusterSlots reply: RESPValue, askedNode: RedisNodeAddress) throws {
        guard let ranges = reply.array else { throw RedisError.protocolViolation("CLUSTER SLOTS is not an array") }
        owners = Array(repeating: nil, count: HashSlot.count)
        nodes = []
        coverage = 0
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].integer, let end = parts[1].integer,
                start >= 0, start <= end, end < HashSlot.count
            else { throw RedisError.protocolViolation("CLUSTER SLOTS has a malformed range") }
            var addresses: [RedisNodeAddress?] = []
            for part in parts[2...] { addresses.append(Self.address(part, askedNode: askedNode)) }
            for case let node? in addresses where !nodes.contains(node) { nodes.append(node) }
            guard let master = addresses.first ?? nil else { continue }
            for slot in Int(start)...Int(end) where owners[slot] == nil {
                owners[slot] = master
                coverage += 1
            }
        }
    }

    private static func address(_ entry: RESPValue, askedNode: RedisNodeAddress) -> RedisNodeAddress? {
        guard let node = entry.array, node.count >= 2, let port = node[1].integer, (1...65535).contains(port) else {
            return nil
        }
        switch node[0] {
        case .bulkString(nil): return RedisNodeAddress(host: askedNode.host, port: Int(port))
        default:
            guard let host = node[0].string, host != "?" else { return nil }
            return RedisNodeAddress(host: host.isEmpty ? askedNode.host : host, port: Int(port))
        }
    }
}

/// A reply that tells the client to go elsewhere or to wait.
enum Redirect: Equatable, CustomStringConvertible {
    case moved(slot: Int, RedisNodeAddress)
    case ask(slot: Int, RedisNodeAddress)
    case tryAgain
    case clusterDown

    init?(_ result: Result<RESPValue, any Error>) {
        guard case .failure(RedisError.server(let message)) = result else { return nil }
        self.init(error: message)
    }

    /// `MOVED 3999 127.0.0.1:6381`, `ASK 3999 127.0.0.1:6381`, `TRYAGAIN …`, `CLUSTERDOWN …`.
    init?(error message: String) {
        if message.hasPrefix("TRYAGAIN") {
            self = .tryAgain
            return
        }
        if message.hasPrefix("CLUSTERDOWN") {
            self = .clusterDown
            return
        }
        let parts = message.split(separator: " ")
        guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]),
            (0..<HashSlot.count).contains(slot), let colon = parts[2].lastIndex(of: ":"),
            let port = Int(parts[2][parts[2].index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = parts[2][..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        let node = RedisNodeAddress(host: String(host), port: port)
        self = parts[0] == "MOVED" ? .moved(slot: slot, node) : .ask(slot: slot, node)
    }

    /// With an unknown host (`MOVED 12 :7000`, `?:7000`) taken to be the host of `node`, which sent it.
    func resolving(against node: RedisNodeAddress) -> Redirect {
        func fixed(_ target: RedisNodeAddress) -> RedisNodeAddress {
            target.host.isEmpty || target.host == "?" ? RedisNodeAddress(host: node.host, port: target.port) : target
        }
        switch self {
        case .moved(let slot, let target): return .moved(slot: slot, fixed(target))
        case .ask(let slot, let target): return .ask(slot: slot, fixed(target))
        case .tryAgain, .clusterDown: return self
        }
    }

    var description: String {
        switch self {
        case .moved(let slot, let node): "MOVED \(slot) \(node)"
        case .ask(let slot, let node): "ASK \(slot) \(node)"
        case .tryAgain: "TRYAGAIN"
        case .clusterDown: "CLUSTERDOWN"
        }
    }
}
