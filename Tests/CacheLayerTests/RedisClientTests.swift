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
        _ = try await test.redis.send(RESPCommand("SCRIPT", ["FLUSH"])).get()
        #expect(try await test.redis.evalScript(script, keys: [], arguments: [.integer(1)]).get() == .integer(2))
    }

    @Test func theURLSelectsTheDatabase() async throws {
        let base = try RedisConfiguration(url: try TestEnvironment.redisURL)
        let url = "redis://\(base.host):\(base.port)/3"
        let db3 = try TestCache.make(url: url, prefix: "t")
        let db0 = try TestCache.make(prefix: "t")
        let key = TestEnvironment.uniqueName("db")
        try await db3.redis.set(key, ByteBuffer(string: "three"), expireMilliseconds: 10_000)
        #expect(try await db3.redis.get(key) == ByteBuffer(string: "three"))
        #expect(try await db0.redis.get(key) == nil)
    }

    @Test func badURLsAreRefusedWithTheExpectedForm() {
        #expect(throws: RedisError.invalidURL("http://x")) { try RedisConfiguration(url: "http://x") }
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis://host/notanumber") }
    }
}
