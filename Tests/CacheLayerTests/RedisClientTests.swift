import CacheLayer
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The client against the real redis-server the scripts start.
@Suite struct RedisClientTests {
    @Test func basicCommandsRoundTrip() async throws {
        let test = try TestCache.make(prefix: TestEnvironment.uniqueName("t"))
        let key = TestEnvironment.uniqueName("k")
        let value = ByteBuffer(bytes: (0..<16384).map { UInt8($0 % 251) })
        try await test.redis.set(key, value, expireMilliseconds: 10_000)
        #expect(try await test.redis.get(key) == value)
        #expect(try await test.redis.mget([key, key + ":missing"]) == [value, nil])
        #expect(try await test.redis.incr(key + ":n") == 1)
        #expect(try await test.redis.incr(key + ":n") == 2)
        #expect(try await test.redis.expire(key + ":n", seconds: 5, on: nil).get())
        #expect(try await test.redis.del([key, key + ":n"], on: nil).get() == 2)
        #expect(try await test.redis.get(key) == nil)
        try await test.redis.ping()
        await #expect(throws: RedisError.self) {
            try await test.redis.send(
                RESPCommand("INCR", [.string(TestEnvironment.uniqueName("x")), "extra"]), on: nil
            ).get()
        }
    }

    @Test func manyConcurrentCommandsPipelineOnFewConnections() async throws {
        let test = try TestCache.make(prefix: TestEnvironment.uniqueName("t"))
        let prefix = TestEnvironment.uniqueName("p")
        for index in 0..<50 { try await test.redis.set("\(prefix):\(index)", ByteBuffer(string: "value \(index)")) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for round in 0..<500 {
                group.addTask {
                    let index = round % 50
                    let value = try await test.redis.get("\(prefix):\(index)")
                    #expect(value.map { String(buffer: $0) } == "value \(index)")
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func scriptsAreReloadedAfterScriptFlush() async throws {
        let test = try TestCache.make(prefix: TestEnvironment.uniqueName("t"))
        let script = "return tonumber(ARGV[1]) + 1"
        #expect(try await test.redis.evalScript(script, keys: [], arguments: [.integer(41)]).get() == .integer(42))
        _ = try await test.redis.sendToEveryMaster(RESPCommand("SCRIPT", ["FLUSH"]))
        #expect(try await test.redis.evalScript(script, keys: [], arguments: [.integer(1)]).get() == .integer(2))
    }

    @Test func theURLSelectsTheDatabase() async throws {
        let base = try RedisConfiguration(url: try TestEnvironment.redisURL)
        if base.cluster {
            // A cluster has only database 0: naming another is refused, saying so.
            let url = try TestEnvironment.redisURL.replacingOccurrences(of: "?", with: "/3?")
            #expect {
                try RedisConfiguration(url: url)
            } throws: { error in
                "\(error)".contains("only database 0")
            }
            return
        }
        let url = "redis://\(base.host):\(base.port)/3"
        let db3 = try TestCache.make(url: url, prefix: "t")
        let db0 = try TestCache.make(prefix: "t")
        let key = TestEnvironment.uniqueName("db")
        try await db3.redis.set(key, ByteBuffer(string: "three"), expireMilliseconds: 10_000)
        #expect(try await db3.redis.get(key) == ByteBuffer(string: "three"))
        #expect(try await db0.redis.get(key) == nil)
    }

    @Test func badURLsAreRefusedWithTheExpectedForm() {
        #expect(throws: RedisError.invalidURL("http://x", reason: "the scheme must be redis://")) {
            try RedisConfiguration(url: "http://x")
        }
        let refused: [(url: String, says: String)] = [
            ("redis://host/notanumber", "the database must be a number"),
            ("redis://a:1,b:2", "add ?cluster=true"),
            ("redis://a:1,b:2/2?cluster=true", "only database 0"),
            ("redis://a:0", "is not host[:port]"),
            ("redis://a:99999", "is not host[:port]"),
            ("redis://a:1,,b:2?cluster=true", "is not host[:port]"),
            ("redis://a?cluster=maybe", "cluster must be true or false"),
            ("redis://a?replicas=-1", "replicas must be a number"),
            ("redis://a?replicas=x", "replicas must be a number"),
            ("redis://a?color=red", "unknown option 'color'"),
            ("redis://:secret@", "no host"),
        ]
        for (url, says) in refused {
            do {
                _ = try RedisConfiguration(url: url)
                Issue.record("\(url) was accepted")
            } catch {
                #expect("\(error)".contains(says), "\(url): \(error)")
                #expect(!"\(error)".contains("secret"))
            }
        }
    }

    @Test func urlsNameSeedsCredentialsAndOptions() throws {
        let single = try RedisConfiguration(url: "redis://user:p%40ss@cache.local:6380/2")
        #expect(single.nodes == [RedisNodeAddress(host: "cache.local", port: 6380)])
        #expect(single.username == "user" && single.password == "p@ss" && single.database == 2)
        #expect(!single.cluster && single.replicasToAcknowledge == 0)
        let cluster = try RedisConfiguration(url: "redis://:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002?cluster=true")
        #expect(
            cluster.nodes == [
                RedisNodeAddress(host: "10.0.0.1", port: 7000), RedisNodeAddress(host: "10.0.0.2", port: 6379),
                RedisNodeAddress(host: "::1", port: 7002),
            ])
        #expect(cluster.cluster && cluster.password == "pw" && cluster.username == nil)
        #expect(cluster.replicasToAcknowledge == 1)  // a failover must not lose an invalidation
        #expect(try RedisConfiguration(url: "redis://a?cluster=true&replicas=0").replicasToAcknowledge == 0)
        #expect(try RedisConfiguration(url: "redis://a?replicas=2").replicasToAcknowledge == 2)
    }
}
