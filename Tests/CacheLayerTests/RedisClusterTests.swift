import Foundation
import Logging
import NIOCore
import Synchronization
import TestSupport
import Testing

@testable import CacheLayer

/// The client on a real Redis Cluster: slot routing on the one `scripts/services` runs, and
/// resharding and failover on private clusters the tests take apart.
@Suite(.serialized) struct RedisClusterTests {
    static func client(_ url: String) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: url)
        configuration.commandTimeout = .seconds(2)
        return RedisClient(configuration: configuration, logger: TestCache.logger)
    }

    @Test func hashSlotsAreTheClustersOwn() async throws {
        // The published check value of CRC16/XMODEM, and Redis's own examples of hash tags.
        #expect(HashSlot.of("123456789") == 0x31C3)
        #expect(HashSlot.of("{user1000}.following") == HashSlot.of("{user1000}.followers"))
        let redis = try Self.client(try TestEnvironment.redisClusterURL)
        let scheme = CacheKeyScheme(prefix: "gw")
        var keys = [
            "", "{", "}", "{}", "{}x", "a{b}c", "{a}{b}", "x{}{y}", "{{a}}", "a{", "}{a}", "ünïcödé", "{ü}1",
            scheme.entry(CacheKey(slot: "category:42", name: "newest:20:1")), scheme.hardGeneration("category:42"),
            scheme.dependencySequence(slot: "category:42"), scheme.dependents("category:42#product:7"),
        ]
        for _ in 0..<200 { keys.append(TestEnvironment.uniqueName(String(Int.random(in: 0..<1000)))) }
        for key in keys {
            let slot = try await redis.send(RESPCommand("CLUSTER", ["KEYSLOT", .string(key)])).get()
            #expect(slot.integer == Int64(HashSlot.of(key)), "\(key)")
        }
        // What a listing read names is one slot, so it stays one MGET on a cluster.
        let listing = Set(
            [
                scheme.entry(CacheKey(slot: "category:42", name: "price_asc:20:3")),
                scheme.hardGeneration("category:42"),
                scheme.softGeneration("category:42"), scheme.dependencySequence(slot: "category:42"),
            ].map(HashSlot.of))
        #expect(listing.count == 1)
        await redis.close()
    }

    @Test func redirectionsAreRead() {
        #expect(
            Redirect(error: "MOVED 3999 127.0.0.1:6381")
                == .moved(slot: 3999, RedisNodeAddress(host: "127.0.0.1", port: 6381)))
        #expect(Redirect(error: "ASK 12 [::1]:7000") == .ask(slot: 12, RedisNodeAddress(host: "::1", port: 7000)))
        #expect(Redirect(error: "TRYAGAIN Multiple keys request during rehashing of slot") == .tryAgain)
        #expect(Redirect(error: "CLUSTERDOWN The cluster is down") == .clusterDown)
        for other in ["MOVED", "MOVED 99999 a:1", "MOVED 1 a", "MOVED 1 a:0", "ASK x a:1", "ERR wrong", "NOSCRIPT x"] {
            #expect(Redirect(error: other) == nil, "\(other)")
        }
    }

    @Test func slotMapsAreReadAsRedisSendsThem() throws {
        let asked = RedisNodeAddress(host: "10.0.0.9", port: 7000)
        func node(_ host: RESPValue, _ port: Int64) -> RESPValue { .array([host, .integer(port), .bulkString(nil)]) }
        let reply = RESPValue.array([
            // A null host and an empty one both mean the node that was asked.
            .array([.integer(0), .integer(99), node(.bulkString(nil), 7001), node(.simpleString("10.0.0.2"), 7002)]),
            .array([.integer(100), .integer(199), node(.simpleString(""), 7003)]),
            // A master shown as "?" leaves its range unowned: its replica is not its master.
            .array([
                .integer(200), .integer(299), node(.simpleString("?"), 7004), node(.simpleString("10.0.0.5"), 7005),
            ]),
            // Port 0 (a TLS-only node) is not a node this client can reach.
            .array([.integer(300), .integer(399), node(.simpleString("10.0.0.6"), 0)]),
        ])
        let map = try SlotMap(clusterSlots: reply, askedNode: asked)
        #expect(map.owners[0] == RedisNodeAddress(host: "10.0.0.9", port: 7001))
        #expect(map.owners[150] == RedisNodeAddress(host: "10.0.0.9", port: 7003))
        #expect(map.owners[250] == nil && map.owners[350] == nil && map.owners[400] == nil)
        #expect(map.coverage == 200)
        #expect(map.nodes.contains(RedisNodeAddress(host: "10.0.0.5", port: 7005)))
        for malformed: RESPValue in [
            .integer(1), .array([.array([.integer(5), .integer(2), node(.simpleString("a"), 1)])]),
            .array([.array([.integer(0), .integer(16384), node(.simpleString("a"), 1)])]),
        ] {
            #expect(throws: RedisError.self) { try SlotMap(clusterSlots: malformed, askedNode: asked) }
        }
        // A redirection with no host names the node that sent it.
        let redirect = try #require(Redirect(error: "MOVED 12 :7009"))
        #expect(redirect.resolving(against: asked) == .moved(slot: 12, RedisNodeAddress(host: "10.0.0.9", port: 7009)))
    }

    /// A seed that answers with no slots (a node restarted without its cluster state) is passed
    /// over for one that knows the whole map.
    @Test func aSeedWithoutTheMapIsPassedOver() async throws {
        let port = Int.random(in: 12_000..<22_700)
        let folder = NSTemporaryDirectory() + TestEnvironment.uniqueName("lone-node")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let lone = ServiceProcess(
            name: "redis-server (a cluster node of no cluster)", port: port,
            executable: try TestEnvironment.executable(named: "redis-server"),
            arguments: [
                "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--cluster-enabled", "yes",
                "--cluster-config-file", "\(folder)/nodes.conf", "--dir", folder,
            ])
        try await lone.start()
        defer { Task { await lone.stop() } }
        let seeds = try RedisConfiguration(url: try TestEnvironment.redisClusterURL).nodes
        let url = "redis://127.0.0.1:\(port)," + seeds.map(\.description).joined(separator: ",") + "?cluster=true"
        let redis = try Self.client(url)
        let key = TestEnvironment.uniqueName("seeded")
        try await redis.set(key, ByteBuffer(string: "x"), expireMilliseconds: 10_000)
        #expect(try await redis.get(key) == ByteBuffer(string: "x"))
        #expect(redis.master(ofSlot: HashSlot.of(key)).map { $0.port != port } == true)
        await redis.close()
    }

    /// On a cluster the near-cache is on only while invalidations demonstrably reach the
    /// subscribed node: a node that hears none of the masters' messages (here: a server outside
    /// the cluster, as a node cut off from the bus would be) never counts as up, whatever its PINGs.
    @Test func aSubscriptionThatHearsNoMasterKeepsTheNearCacheOff() async throws {
        let cluster = try Self.client(try TestEnvironment.redisClusterURL)
        let channel = TestEnvironment.uniqueName("channel")
        let heartbeat: RedisSubscriber.Heartbeat = { message in
            try await cluster.sendToEveryMaster(RESPCommand("PUBLISH", [.string(channel), .string(message)])).count
        }
        let outside = try RedisConfiguration(url: try TestEnvironment.redisURL.components(separatedBy: "?")[0])
        for (nodes, shouldConnect) in [
            (outside.nodes.isEmpty ? [] : [outside.nodes[0]], false), (cluster.knownNodes, true),
        ] {
            guard !outside.cluster else { return }  // the cluster run has no server outside the cluster
            let states = Shared<[Bool]>([])
            let subscriber = RedisSubscriber(
                configuration: cluster.configuration, nodes: { nodes }, channel: channel,
                pingInterval: .milliseconds(200), livenessTimeout: .milliseconds(500), heartbeat: heartbeat,
                logger: TestCache.logger, onMessage: { _ in }, onState: { up in states.withLock { $0.append(up) } })
            let running = Task { try await subscriber.run() }
            try await Task.sleep(for: .seconds(2))
            #expect(subscriber.isConnected == shouldConnect, "\(nodes)")
            #expect(states.value.contains(true) == shouldConnect)
            running.cancel()
            _ = try? await running.value
        }
        await cluster.close()
    }

    @Test func commandsGoToTheMasterOfTheirSlot() async throws {
        let url = try TestEnvironment.redisClusterURL
        let redis = try Self.client(url)
        let prefix = TestEnvironment.uniqueName("route")
        let keys = (0..<120).map { "\(prefix):\($0)" }
        for key in keys { try await redis.set(key, ByteBuffer(string: "v-\(key)"), expireMilliseconds: 60_000) }
        // Each key is on the master the client routed it to: asked directly, that node has it.
        var direct: [RedisNodeAddress: RedisClient] = [:]
        var masters = Set<RedisNodeAddress>()
        for key in keys {
            let master = try #require(redis.master(ofSlot: HashSlot.of(key)))
            masters.insert(master)
            let node = try direct[master] ?? Self.client("redis://\(master)")
            direct[master] = node
            #expect(try await node.get(key) == ByteBuffer(string: "v-\(key)"))
        }
        #expect(masters.count == 3)
        // Multi-key commands over many slots are split per slot and put back in order.
        let values = try await redis.mget(keys + ["\(prefix):missing"])
        #expect(values == keys.map { ByteBuffer(string: "v-\($0)") } + [nil])
        #expect(try await redis.del(keys, on: nil).get() == Int64(keys.count))
        #expect(try await redis.mget(keys).allSatisfy { $0 == nil })
        for node in direct.values { await node.close() }
        await redis.close()
    }

    @Test func anInvalidationOverSeveralSlotsRunsPerSlotAndWaitsForAReplica() async throws {
        let url = try TestEnvironment.redisClusterURL
        let redis = try Self.client(url)
        let generations = TagGenerations(redis: redis, scheme: CacheKeyScheme(prefix: TestEnvironment.uniqueName("g")))
        let tags = (0..<12).map { "product:\($0)" } + ["category:3", "category:3#product:1"]
        #expect(Set(tags.map { HashSlot.of(generations.scheme.hardGeneration($0)) }).count > 3)
        let before = try await generations.current(tags)
        try await generations.invalidate(tags, mode: .hard)
        let after = try await generations.current(tags)
        for (tag, (old, new)) in zip(tags, zip(before, after)) where !CacheKeyScheme.isDependency(tag) {
            #expect(new.hard > old.hard, "\(tag)")
        }
        // Asking for more replicas than a shard has: the writes stand, but the call fails, so the
        // outbox keeps the invalidation and retries it.
        var configuration = try RedisConfiguration(url: url)
        configuration.replicasToAcknowledge = 2
        configuration.acknowledgeTimeout = .milliseconds(100)
        let strict = RedisClient(configuration: configuration, logger: TestCache.logger)
        let strictGenerations = TagGenerations(redis: strict, scheme: generations.scheme)
        await #expect(throws: RedisError.notReplicated(acknowledged: 1, wanted: 2)) {
            try await strictGenerations.invalidate(["product:1"], mode: .hard)
        }
        let bumped = try await generations.current(["product:1"])[0].hard
        #expect(bumped > after[1].hard)
        // For the next second that node's scripts run without a WAIT (WAITs would queue up behind
        // each other on the connection): reported at once, the bump still made.
        let started = ContinuousClock.now
        await #expect(throws: RedisError.notReplicated(acknowledged: 0, wanted: 2)) {
            try await strictGenerations.invalidate(["product:1"], mode: .hard)
        }
        #expect(ContinuousClock.now - started < .milliseconds(90))
        #expect(try await generations.current(["product:1"])[0].hard > bumped)
        await strict.close()
        await redis.close()
    }

    /// A slot resharded to another master under load: every command succeeds (through `ASK` while
    /// the keys move, `MOVED` after), and the client learns the new owner.
    @Test func aSlotMovedUnderLoadIsFollowed() async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { Task { await cluster.stop() } }
        let redis = try Self.client(cluster.url)
        let tag = "{moving}"
        let slot = HashSlot.of(tag)
        let keys = (0..<50).map { "\(tag):\($0)" }
        for key in keys { try await redis.set(key, ByteBuffer(string: "0")) }
        let source = try #require(await cluster.master(ofSlot: slot, askingPort: cluster.nodes[0].port))
        let masters = try await Set(cluster.nodes.asyncCompactMap { try await cluster.masterPort($0.port) })
        let target = try #require(cluster.nodes.first { $0.port != source.port && masters.contains($0.port) })
        #expect(redis.master(ofSlot: slot)?.port == source.port)

        let failures = Shared<[String]>([])
        let done = Shared(false)
        let writes = Shared(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var round = 0
                    while !done.value {
                        round += 1
                        let key = keys[worker + 4 * (round % 12)]  // a worker's own keys
                        do {
                            try await redis.set(key, ByteBuffer(string: "\(round)"))
                            writes.withLock { $0 += 1 }
                            #expect(try await redis.get(key) == ByteBuffer(string: "\(round)"))
                            _ = try await redis.mget([key])
                        } catch {
                            failures.withLock { $0.append("\(key): \(error)") }
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            try await cluster.migrate(slot: slot, from: source, to: target, keysAtATime: 5)
            try await Task.sleep(for: .milliseconds(300))
            done.withLock { $0 = true }
            try await group.waitForAll()
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
        #expect(writes.value > 100)
        #expect(redis.master(ofSlot: slot)?.port == target.port)
        #expect(try await redis.mget(keys).allSatisfy { $0 != nil })
        await redis.close()
    }

    /// During a migration: a key already moved is reached with `ASKING` (and the map stays), a
    /// multi-key command over moved and unmoved keys waits (`TRYAGAIN`) until the slot is moved.
    @Test func anAskDuringMigrationIsFollowedWithoutChangingTheMap() async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { Task { await cluster.stop() } }
        let redis = try Self.client(cluster.url)
        let (moved, staying) = ("{asked}:moved", "{asked}:staying")
        let slot = HashSlot.of(moved)
        try await redis.set(moved, ByteBuffer(string: "m"))
        try await redis.set(staying, ByteBuffer(string: "s"))
        let source = try #require(await cluster.master(ofSlot: slot, askingPort: cluster.nodes[0].port))
        let masters = try await Set(cluster.nodes.asyncCompactMap { try await cluster.masterPort($0.port) })
        let target = try #require(cluster.nodes.first { $0.port != source.port && masters.contains($0.port) })
        let (sourceID, targetID) = (try await cluster.nodeID(source), try await cluster.nodeID(target))
        _ = try await cluster.cli(target.port, "cluster", "setslot", "\(slot)", "importing", sourceID)
        _ = try await cluster.cli(source.port, "cluster", "setslot", "\(slot)", "migrating", targetID)
        _ = try await cluster.cli(
            source.port, "migrate", "127.0.0.1", "\(target.port)", "", "0", "5000", "keys", moved)

        #expect(try await redis.get(moved) == ByteBuffer(string: "m"))  // ASK, then ASKING on the target
        #expect(try await redis.get(staying) == ByteBuffer(string: "s"))
        #expect(redis.master(ofSlot: slot)?.port == source.port)

        // Both keys at once: TRYAGAIN while they are split between the nodes.
        async let both = redis.mget([moved, staying])
        try await Task.sleep(for: .milliseconds(60))
        _ = try await cluster.cli(
            source.port, "migrate", "127.0.0.1", "\(target.port)", "", "0", "5000", "keys", staying)
        for node in cluster.nodes {
            _ = try await cluster.cli(node.port, "cluster", "setslot", "\(slot)", "node", targetID)
        }
        // Served through ASK once every key had moved, or through MOVED after the slot did.
        #expect(try await both == [ByteBuffer(string: "m"), ByteBuffer(string: "s")])
        #expect(try await redis.get(staying) == ByteBuffer(string: "s"))
        #expect(redis.master(ofSlot: slot)?.port == target.port)
        await redis.close()
    }

    /// A master killed (SIGKILL) under a steady load of 400 fetches/s: fetches of its slots go to
    /// the loader until a replica takes over, none fails, and an invalidation acknowledged just
    /// before the kill is never undone (nothing older is served afterwards).
    @Test func aMasterKilledUnderLoadFailsNoFetchAndLosesNoInvalidation() async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { Task { await cluster.stop() } }
        let test = try TestCache.make(url: cluster.url, prefix: TestEnvironment.uniqueName("failover"))
        let keys = (0..<60).map { CacheKey(slot: "item:\($0)", name: "detail") }
        let versions = Shared<[Int]>(Array(repeating: 1, count: keys.count))
        @Sendable func fetch(_ index: Int) async throws -> (Int, CacheOutcome) {
            let result = try await test.fetch(keys[index], tags: [keys[index].slot]) {
                .found(ByteBuffer(string: "\(versions.withLock { $0[index] })"))
            }
            return (Int(String(buffer: result.value)) ?? -1, result.outcome)
        }
        for index in keys.indices { _ = try await fetch(index) }

        let victimSlot = HashSlot.of(test.cache.scheme.entry(keys[0]))
        let victim = try #require(await cluster.master(ofSlot: victimSlot, askingPort: cluster.nodes[0].port))
        let victimKeys = try await keys.indices.asyncFilter {
            try await cluster.master(ofSlot: HashSlot.of(test.cache.scheme.entry(keys[$0])), askingPort: victim.port)?
                .port == victim.port
        }
        #expect(victimKeys.count > 5)

        struct Observation: Sendable {
            var started: ContinuousClock.Instant
            var index: Int
            var version: Int
            var outcome: CacheOutcome?
            var error: String?
        }
        let observations = Shared<[Observation]>([])
        let done = Shared(false)
        let acknowledged = Shared<ContinuousClock.Instant?>(nil)
        let killedAt = Shared<ContinuousClock.Instant?>(nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {  // 8 × 50/s = 400 fetches/s, spread over every slot
                group.addTask {
                    var round = worker
                    while !done.value {
                        round += 7
                        let index = round % keys.count
                        let started = ContinuousClock.now
                        do {
                            let (version, outcome) = try await fetch(index)
                            observations.withLock {
                                $0.append(
                                    Observation(started: started, index: index, version: version, outcome: outcome))
                            }
                        } catch {
                            observations.withLock {
                                $0.append(Observation(started: started, index: index, version: -1, error: "\(error)"))
                            }
                        }
                        try await Task.sleep(until: started + .milliseconds(20))
                    }
                }
            }
            try await Task.sleep(for: .seconds(1))
            // A write just before the kill: the new versions, then the acknowledged invalidation.
            versions.withLock { for index in victimKeys { $0[index] += 1 } }
            try await test.cache.invalidate(tags: victimKeys.map { keys[$0].slot })
            acknowledged.withLock { $0 = .now }
            victim.killAbruptly()
            killedAt.withLock { $0 = .now }
            // Recovered: a fetch of the victim's slots is answered by Redis again.
            let deadline = ContinuousClock.now + .seconds(30)
            var recovered: Duration?
            while recovered == nil && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                if let (_, outcome) = try? await fetch(victimKeys[0]), outcome == .hit {
                    recovered = ContinuousClock.now - (killedAt.withLock { $0 } ?? .now)
                }
            }
            try await Task.sleep(for: .seconds(1))
            done.withLock { $0 = true }
            try await group.waitForAll()
            let seen = observations.withLock { $0 }
            let failed = seen.filter { $0.error != nil }
            let ack = try #require(acknowledged.withLock { $0 })
            let stale = seen.filter { $0.started > ack && victimKeys.contains($0.index) && $0.version < 2 }
            let bypassed = seen.filter { $0.outcome == .bypass }.count
            print(
                "failover: \(seen.count) fetches, \(failed.count) failed, \(bypassed) bypassed to the loader,"
                    + " \(stale.count) stale; Redis answered the victim's slots again after \(recovered.map { "\($0)" } ?? "never")"
            )
            #expect(failed.isEmpty, "\(failed.prefix(3).map { $0.error ?? "" })")
            // The client follows: the slot has a new master, and a dead node that is not a seed is
            // forgotten with its connections.
            let dead = RedisNodeAddress(host: "127.0.0.1", port: victim.port)
            #expect(test.redis.master(ofSlot: victimSlot) != dead)
            if !test.redis.configuration.nodes.contains(dead) { #expect(!test.redis.knownNodes.contains(dead)) }
            #expect(stale.isEmpty)
            #expect(recovered != nil)
            #expect(seen.count > 400)
        }
        await test.redis.close()
    }
}

extension PrivateRedisCluster {
    /// The port of `port` itself when it is a master serving slots (`nil` for a replica).
    func masterPort(_ port: Int) async throws -> Int? {
        let line = try await cli(port, "cluster", "nodes").split(separator: "\n").first { $0.contains("myself") }
        guard let line, line.contains("master"), line.split(separator: " ").count > 8 else { return nil }
        return port
    }

    func nodeID(_ node: ServiceProcess) async throws -> String {
        try await cli(node.port, "cluster", "myid").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Moves `slot` from `source` to `target` as `redis-cli --cluster reshard` does: importing and
    /// migrating states, the keys a few at a time, then the new owner announced to every master.
    func migrate(slot: Int, from source: ServiceProcess, to target: ServiceProcess, keysAtATime: Int) async throws {
        let (sourceID, targetID) = (try await nodeID(source), try await nodeID(target))
        _ = try await cli(target.port, "cluster", "setslot", "\(slot)", "importing", sourceID)
        _ = try await cli(source.port, "cluster", "setslot", "\(slot)", "migrating", targetID)
        while true {
            let keys = try await cli(source.port, "cluster", "getkeysinslot", "\(slot)", "\(keysAtATime)")
                .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
            if keys.isEmpty { break }
            _ = try await cli(
                arguments: ["-p", "\(source.port)", "migrate", "127.0.0.1", "\(target.port)", "", "0", "5000", "keys"]
                    + keys)
            try await Task.sleep(for: .milliseconds(20))
        }
        for node in nodes where TestEnvironment.isListening(node.port) {
            _ = try await cli(node.port, "cluster", "setslot", "\(slot)", "node", targetID)
        }
    }
}

extension Sequence where Element: Sendable {
    func asyncCompactMap<T>(_ transform: (Element) async throws -> T?) async rethrows -> [T] {
        var result: [T] = []
        for element in self { if let value = try await transform(element) { result.append(value) } }
        return result
    }

    func asyncFilter(_ include: (Element) async throws -> Bool) async rethrows -> [Element] {
        var result: [Element] = []
        for element in self where try await include(element) { result.append(element) }
        return result
    }
}

/// A value tasks share, behind a lock.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}
