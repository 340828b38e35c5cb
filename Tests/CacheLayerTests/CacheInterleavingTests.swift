import CacheLayer
import NIOCore
import TestSupport
import Testing

/// Each race the cache must win, replayed step by step against the real Redis: a `StepGate`
/// holds one reader, filler or invalidation at the exact point where the race happens. Every test
/// states read-your-writes through one gateway: once an invalidation has returned, no fetch that
/// starts afterwards gets bytes loaded before it.
@Suite struct CacheInterleavingTests {
    let key = CacheKey(slot: "product:7", name: "detail")
    let tags = ["product:7"]

    func make(
        nearCacheBytes: Int = 0, policy: CachePolicy = CachePolicy(), gate: StepGate? = nil, prefix: String? = nil
    )
        throws -> TestCache
    {
        try TestCache.make(
            prefix: prefix ?? TestEnvironment.uniqueName("i"), policy: policy, nearCacheBytes: nearCacheBytes,
            probe: gate)
    }

    /// 1. A reader whose `MGET` already saw the write's generation must not join a fill that began
    /// before the write (nor wait for that fill's lease): it loads the new bytes itself.
    @Test(arguments: [false, true])
    func aReaderAfterTheWriteDoesNotJoinAFillThatBeganBeforeIt(nearCache: Bool) async throws {
        var policy = CachePolicy()
        policy.leaseWait = .seconds(10)
        let test = try make(nearCacheBytes: nearCache ? 1 << 20 : 0, policy: policy)
        test.cache.near?.setEnabled(true)
        let database = Stored("v1")
        let loading = Latch()
        let release = Latch()
        let (key, tags) = (self.key, self.tags)
        let early = Task {
            try await test.fetch(key, tags: tags) {
                let read = database.current
                await loading.open()
                await release.wait()
                return .found(buffer(read))
            }
        }
        await loading.wait()
        database.current = "v2"
        try await test.cache.invalidate(tags: tags)
        // Read-your-writes: this read starts after the write was acknowledged.
        let late = try await finished(within: .seconds(3)) {
            try await test.fetch(key, tags: tags) { .found(buffer(database.current)) }
        }
        await release.open()
        let earlyResult = try await early.value
        #expect(earlyResult.outcome != .miss(stored: true), "the early fill overlapped the write: not stored")
        #expect(
            late?.value == buffer("v2"),
            "a read after the write got \(late.map { String(buffer: $0.value) } ?? "nothing within 3 s")")
        let next = try await test.fetch(key, tags: tags) { .found(buffer("unused")) }
        #expect(next.value == buffer("v2"))
    }

    /// 2. `invalidate` must reach this process's near-cache after the generation bump: a reader
    /// that reads Redis while the bump is in flight must not leave the old bytes in the near-cache.
    @Test func aReadDuringTheGenerationBumpLeavesNothingOldInTheNearCache() async throws {
        let gate = StepGate()
        let test = try make(nearCacheBytes: 1 << 20, gate: gate)
        test.cache.near?.setEnabled(true)  // as when the invalidation subscription is up
        let database = Stored("v1")
        let (key, tags) = (self.key, self.tags)
        _ = try await test.fetch(key, tags: tags) { .found(buffer(database.current)) }
        test.cache.near?.removeAll()  // v1 is in Redis only

        let bump = gate.pause(.before, .invalidate)
        database.current = "v2"
        let write = Task { try await test.cache.invalidate(tags: tags) }
        await bump.reached.wait()
        // A reader racing the write: it started before the write returned, so v1 is fine for it.
        let racing = try await test.fetch(key, tags: tags) { .found(buffer(database.current)) }
        #expect(racing.value == buffer("v1"))
        await bump.release.open()
        try await write.value
        // The write is acknowledged: nothing older may be served, from the near-cache either.
        let after = try await test.fetch(key, tags: tags) { .found(buffer(database.current)) }
        #expect(after.value == buffer("v2"), "served \(String(buffer: after.value)) as \(after.outcome)")
    }

    /// 3a. A snapshot taken while the near-cache was off (subscription down, invalidations
    /// possibly missed) must not be accepted once it is back on.
    @Test func aLoadThatBeganWhileTheNearCacheWasOffCannotFillItAfterItComesBack() async throws {
        let gate = StepGate()
        let prefix = TestEnvironment.uniqueName("i")
        let test = try make(nearCacheBytes: 1 << 20, gate: gate, prefix: prefix)
        let otherGateway = try make(prefix: prefix)
        let near = try #require(test.cache.near)
        near.setEnabled(true)
        let database = Stored("v1")
        let (key, tags) = (self.key, self.tags)
        _ = try await test.fetch(key, tags: tags) { .found(buffer(database.current)) }

        near.setEnabled(false)  // the subscription dropped
        let read = gate.pause(.after, .read)
        let reader = Task { try await test.fetch(key, tags: tags) { .found(buffer(database.current)) } }
        await read.reached.wait()  // it read v1 from Redis
        // Another gateway writes; this process never hears of it (it was not subscribed).
        database.current = "v2"
        try await otherGateway.cache.invalidate(tags: tags)
        near.setEnabled(true)  // subscribed again
        await read.release.open()
        _ = try await reader.value
        #expect(
            near.lookup(test.cache.scheme.entry(key)) == nil, "a load from before the outage entered the near-cache")
        let after = try await test.fetch(key, tags: tags) { .found(buffer(database.current)) }
        #expect(after.value == buffer("v2"), "served \(String(buffer: after.value)) as \(after.outcome)")
    }

    /// 4. With Redis failing for reads, loads bypass the cache; a bypass load that began before a
    /// write must not be shared with a reader that starts after it.
    @Test func aBypassLoadFromBeforeTheWriteIsNotSharedWithALaterReader() async throws {
        let gate = StepGate()
        let test = try make(gate: gate)
        let database = Stored("v1")
        let loading = Latch()
        let release = Latch()
        let (key, tags) = (self.key, self.tags)
        gate.fail(.read, times: 2)
        let early = Task {
            try await test.fetch(key, tags: tags) {
                let read = database.current
                await loading.open()
                await release.wait()
                return .found(buffer(read))
            }
        }
        await loading.wait()
        database.current = "v2"
        try await test.cache.invalidate(tags: tags)
        let late = try await finished(within: .seconds(3)) {
            try await test.fetch(key, tags: tags) { .found(buffer(database.current)) }
        }
        await release.open()
        #expect(try await early.value.outcome == .bypass)
        #expect(late?.outcome == .bypass)
        #expect(
            late?.value == buffer("v2"),
            "a read after the write got \(late.map { String(buffer: $0.value) } ?? "nothing within 3 s")")
    }

    /// 5. A filler whose loader throws gives its lease back at once, so another process does not
    /// wait out the lease for an entry that will never come.
    @Test func aLoaderThatThrowsReleasesItsLease() async throws {
        var policy = CachePolicy()
        policy.leaseWait = .seconds(10)
        policy.leaseTTL = .seconds(30)
        let prefix = TestEnvironment.uniqueName("i")
        let first = try make(policy: policy, prefix: prefix)
        let second = try make(policy: policy, prefix: prefix)
        let (key, tags) = (self.key, self.tags)
        struct DatabaseDown: Error {}
        await #expect(throws: DatabaseDown.self) {
            try await first.fetch(key, tags: tags) { throw DatabaseDown() }
        }
        let started = ContinuousClock.now
        let result = try await second.fetch(key, tags: tags) { .found(buffer("loaded")) }
        #expect(result.outcome == .miss(stored: true))
        #expect(ContinuousClock.now - started < .seconds(5), "waited for a lease whose holder had failed")
    }

    /// A lease whose holder never finishes (a crashed process) lapses after `leaseTTL`; until then
    /// others wait at most `leaseWait` and load for themselves.
    @Test func aLeaseOfAVanishedFillerLapses() async throws {
        var policy = CachePolicy()
        policy.leaseWait = .milliseconds(300)
        policy.leaseTTL = .seconds(1)
        let prefix = TestEnvironment.uniqueName("i")
        let crashed = try make(policy: policy, prefix: prefix)
        let other = try make(policy: policy, prefix: prefix)
        let (key, tags) = (self.key, self.tags)
        let stuck = Task {
            try await crashed.fetch(key, tags: tags) {
                try await Task.sleep(for: .seconds(60))
                return .found(buffer("never"))
            }
        }
        defer { stuck.cancel() }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        let waited = try await other.fetch(key, tags: tags) { .found(buffer("mine")) }
        let elapsed = ContinuousClock.now - started
        #expect(waited.value == buffer("mine"))
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(3), "waited \(elapsed)")
        // After leaseTTL the vanished filler's lease is gone from Redis.
        try await Task.sleep(for: .seconds(1))
        let leases = try await other.redis.sendToEveryMaster(RESPCommand("KEYS", [.string("\(prefix):*:l:*")]))
        #expect(leases.allSatisfy { $0.array?.isEmpty == true })
    }
}

/// 3b. A subscription that stops answering (a hung server, a half-open connection) counts as
/// down: the near-cache turns off within the liveness timeout, and comes back after.
@Suite(.serialized) struct SubscriptionLivenessTests {
    @Test func aHungInvalidationChannelTurnsTheNearCacheOff() async throws {
        let redis = try ServiceProcess.redis()
        try await redis.start()
        do {
            try await check(redis)
        } catch {
            await redis.stop()
            throw error
        }
        await redis.stop()
    }

    func check(_ redis: ServiceProcess) async throws {
        let test = try TestCache.make(
            url: "redis://127.0.0.1:\(redis.port)/0", prefix: "live", nearCacheBytes: 1 << 20)
        let near = try #require(test.cache.near)
        try await test.withSubscriber {
            #expect(near.isEnabled)
            redis.suspend()  // SIGSTOP: the connection stays open, nothing answers
            let stopped = ContinuousClock.now
            while near.isEnabled && ContinuousClock.now - stopped < .seconds(8) {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(!near.isEnabled, "the near-cache stayed on while its invalidation channel was silent")
            #expect(ContinuousClock.now - stopped < .seconds(4))
            redis.resume()
            let resumed = ContinuousClock.now
            while !near.isEnabled && ContinuousClock.now - resumed < .seconds(10) {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(near.isEnabled, "the near-cache did not come back with the channel")
        }
    }
}

/// Redis loses its data (a restart without persistence) while a load runs: the tag generations
/// start again, and must not climb back to the values the old load saw.
@Suite(.serialized) struct GenerationLossTests {
    @Test func aLoadFromBeforeARedisRestartNeitherStoresNorIsShared() async throws {
        let redis = try ServiceProcess.redis()
        try await redis.start()
        do {
            try await check(redis)
        } catch {
            await redis.stop()
            throw error
        }
        await redis.stop()
    }

    func check(_ redis: ServiceProcess) async throws {
        var policy = CachePolicy()
        policy.leaseWait = .seconds(10)
        let test = try TestCache.make(url: "redis://127.0.0.1:\(redis.port)/0", prefix: "loss", policy: policy)
        let key = CacheKey(slot: "product:3", name: "detail")
        let tags = ["product:3"]
        try await test.cache.invalidate(tags: tags)  // the generation exists (a write happened long ago)
        let database = Stored("v1")
        let loading = Latch()
        let release = Latch()
        let early = Task {
            try await test.fetch(key, tags: tags) {
                let read = database.current
                await loading.open()
                await release.wait()
                return .found(buffer(read))
            }
        }
        await loading.wait()
        await redis.stop()
        try await redis.start()  // empty
        database.current = "v2"
        var acknowledged = false
        for _ in 0..<100 where !acknowledged {
            do {
                try await test.cache.invalidate(tags: tags)
                acknowledged = true
            } catch {
                try await Task.sleep(for: .milliseconds(50))  // the pool reconnects after its backoff
            }
        }
        try #require(acknowledged)
        let late = try await finished(within: .seconds(3)) {
            try await test.fetch(key, tags: tags) { .found(buffer(database.current)) }
        }
        #expect(
            late?.value == buffer("v2"),
            "a read after the write got \(late.map { String(buffer: $0.value) } ?? "nothing within 3 s")")
        await release.open()
        // Not stored (a busy machine may also have made it bypass Redis, which never stores).
        let earlyOutcome = try await early.value.outcome
        #expect(earlyOutcome != .miss(stored: true), "a load from before the restart was stored")
        #expect(try await test.fetch(key, tags: tags) { .found(buffer("unused")) }.value == buffer("v2"))
    }
}
