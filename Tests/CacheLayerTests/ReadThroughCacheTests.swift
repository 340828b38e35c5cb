import CacheLayer
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The cache contract against the real redis-server the scripts start.
@Suite struct ReadThroughCacheTests {
    func make(policy: CachePolicy = CachePolicy(), nearCacheBytes: Int = 0) throws -> TestCache {
        try TestCache.make(prefix: TestEnvironment.uniqueName("t"), policy: policy, nearCacheBytes: nearCacheBytes)
    }

    let key = CacheKey(slot: "category:1", name: "newest:20:1")
    let tags = ["category:1"]

    @Test func aMissStoresAndTheNextFetchHits() async throws {
        let test = try make()
        let calls = CallCounter()
        let first = try await test.fetch(key, tags: tags) {
            calls.increment()
            return .found(buffer("page one"))
        }
        #expect(first.outcome == .miss(stored: true))
        let second = try await test.fetch(key, tags: tags) {
            calls.increment()
            return .found(buffer("not used"))
        }
        #expect(second.outcome == .hit)
        #expect(second.value == buffer("page one"))
        #expect(calls.count == 1)
    }

    @Test func aLoadOverlappingAnInvalidationIsNotStored() async throws {
        let test = try make()
        let loading = Latch()
        let release = Latch()
        // The loader reads "old" data, then waits until the invalidation has completed.
        async let slow = test.fetch(key, tags: tags) {
            await loading.open()
            await release.wait()
            return .found(buffer("old"))
        }
        await loading.wait()
        try await test.cache.invalidate(tags: tags)
        await release.open()
        let result = try await slow
        #expect(result.outcome == .miss(stored: false))
        // The old bytes never reached the cache: the next reader loads the new data.
        let next = try await test.fetch(key, tags: tags) { .found(buffer("new")) }
        #expect(next.outcome == .miss(stored: true))
        #expect(next.value == buffer("new"))
    }

    @Test func concurrentMissesRunTheLoaderOnce() async throws {
        let test = try make()
        let calls = CallCounter()
        let values = try await withThrowingTaskGroup(of: ByteBuffer.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    try await test.fetch(key, tags: tags) {
                        calls.increment()
                        try await Task.sleep(for: .milliseconds(100))
                        return .found(buffer("loaded once"))
                    }.value
                }
            }
            var values: [ByteBuffer] = []
            for try await value in group { values.append(value) }
            return values
        }
        #expect(calls.count == 1)
        #expect(values.count == 100)
        #expect(values.allSatisfy { $0 == buffer("loaded once") })
    }

    @Test func twoInstancesSharingRedisLoadOnceThroughTheLease() async throws {
        let prefix = TestEnvironment.uniqueName("t")
        let first = try TestCache.make(prefix: prefix)
        let second = try TestCache.make(prefix: prefix)
        let calls = CallCounter()
        let loader: ReadThroughCache<ByteBuffer>.Loader = {
            calls.increment()
            try await Task.sleep(for: .milliseconds(300))
            return .found(buffer("filled by one process"))
        }
        async let a = first.fetch(key, tags: tags, loader: loader)
        async let b = second.fetch(key, tags: tags, loader: loader)
        let (resultA, resultB) = try await (a, b)
        #expect(calls.count == 1)
        #expect(resultA.value == resultB.value)
        #expect([resultA.outcome, resultB.outcome].contains(.hit))
    }

    @Test func hardInvalidationMeansNoReaderSeesTheOldBytes() async throws {
        let test = try make()
        _ = try await test.fetch(key, tags: tags) { .found(buffer("v1")) }
        try await test.cache.invalidate(tags: tags, mode: .hard)
        let after = try await test.fetch(key, tags: tags) { .found(buffer("v2")) }
        #expect(after.outcome == .miss(stored: true))
        #expect(after.value == buffer("v2"))
        // Another tag's entries are untouched.
        let other = CacheKey(slot: "category:2", name: "newest:20:1")
        _ = try await test.fetch(other, tags: ["category:2"]) { .found(buffer("other")) }
        try await test.cache.invalidate(tags: tags, mode: .hard)
        #expect(try await test.fetch(other, tags: ["category:2"]) { .found(buffer("reloaded")) }.outcome == .hit)
    }

    @Test func softInvalidationServesOldBytesWhileOneRefreshRuns() async throws {
        let test = try make()
        let calls = CallCounter()
        let release = Latch()
        _ = try await test.fetch(key, tags: tags) { .found(buffer("v1")) }
        try await test.cache.invalidate(tags: tags, mode: .soft)
        let loader: ReadThroughCache<ByteBuffer>.Loader = {
            calls.increment()
            await release.wait()  // the refresh is still running while the reads below happen
            return .found(buffer("v2"))
        }
        for _ in 0..<5 {
            let result = try await test.fetch(key, tags: tags, loader: loader)
            #expect(result.value == buffer("v1"))
            #expect(result.outcome == .stale(.invalidated))
        }
        await release.open()
        var refreshed: CacheResult<ByteBuffer>?
        for _ in 0..<100 {
            try await Task.sleep(for: .milliseconds(20))
            let result = try await test.fetch(key, tags: tags, loader: loader)
            if result.outcome == .hit {
                refreshed = result
                break
            }
        }
        #expect(refreshed?.value == buffer("v2"))
        #expect(calls.count == 1)
    }

    @Test func aSoftInvalidationOfManyEntriesRefreshesThroughTheBoundedQueue() async throws {
        var policy = CachePolicy()
        policy.refreshConcurrency = 1
        policy.refreshQueueLimit = 5
        let test = try make(policy: policy)
        let keys = (0..<50).map { CacheKey(slot: "category:3", name: "page\($0)") }
        for key in keys { _ = try await test.fetch(key, tags: ["category:3"]) { .found(buffer("v1")) } }
        try await test.cache.invalidate(tags: ["category:3"], mode: .soft)
        let release = Latch()
        let calls = CallCounter()
        for key in keys {
            let result = try await test.fetch(key, tags: ["category:3"]) {
                calls.increment()
                await release.wait()
                return .found(buffer("v2"))
            }
            #expect(result.outcome == .stale(.invalidated))
            #expect(result.value == buffer("v1"))
        }
        #expect(test.cache.refresher.counts.running <= 1)
        #expect(test.cache.refresher.counts.queued <= 5)
        await release.open()
        for _ in 0..<200 where test.cache.refresher.counts.running > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(calls.count == 6, "one running and five queued refreshes; the other 44 were dropped")
        // A dropped refresh is asked again by a later read.
        let later = try await test.fetch(keys[49], tags: ["category:3"]) { .found(buffer("v2")) }
        #expect(later.outcome == .stale(.invalidated))
        for _ in 0..<200 {
            if try await test.fetch(keys[49], tags: ["category:3"]) { .found(buffer("v2")) }.outcome == .hit { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await test.fetch(keys[49], tags: ["category:3"]) { .found(buffer("v3")) }.value == buffer("v2"))
    }

    @Test func staleIfErrorServesTheLastGoodBytesWhenTheLoaderFails() async throws {
        var policy = CachePolicy()
        policy.softTTL = .milliseconds(100)
        let test = try make(policy: policy)
        _ = try await test.fetch(key, tags: tags) { .found(buffer("good")) }
        try await Task.sleep(for: .milliseconds(150))
        struct DatabaseDown: Error {}
        let failing: ReadThroughCache<ByteBuffer>.Loader = { throw DatabaseDown() }
        let first = try await test.fetch(key, tags: tags, loader: failing)
        #expect(first.value == buffer("good"))
        #expect(first.outcome == .stale(.expired))
        var sawRefreshFailure = false
        for _ in 0..<50 {
            try await Task.sleep(for: .milliseconds(20))
            let result = try await test.fetch(key, tags: tags, loader: failing)
            #expect(result.value == buffer("good"))
            if result.outcome == .stale(.refreshFailed) {
                sawRefreshFailure = true
                break
            }
        }
        #expect(sawRefreshFailure)
        // With nothing cached the error reaches the caller.
        let empty = CacheKey(slot: "category:9", name: "x")
        await #expect(throws: DatabaseDown.self) { try await test.fetch(empty, tags: ["category:9"], loader: failing) }
    }

    @Test func notFoundIsRememberedForTheNegativeTTL() async throws {
        let test = try make()
        let calls = CallCounter()
        let loader: ReadThroughCache<ByteBuffer>.Loader = {
            calls.increment()
            return .notFound(buffer("no such product"))
        }
        let productKey = CacheKey(slot: "product:404", name: "detail")
        let first = try await test.fetch(productKey, tags: ["product:404"], loader: loader)
        #expect(first.negative)
        let second = try await test.fetch(productKey, tags: ["product:404"], loader: loader)
        #expect(second.negative)
        #expect(second.outcome == .hit)
        #expect(calls.count == 1)
        // Creating the product invalidates its tag, which ends the negative entry at once.
        try await test.cache.invalidate(tags: ["product:404"])
        let third = try await test.fetch(productKey, tags: ["product:404"]) { .found(buffer("now it exists")) }
        #expect(!third.negative)
    }

    @Test func multiGetReadsOnceAndLoadsTheMissesInOneCall() async throws {
        let test = try make()
        let items = (1...5).map { (key: CacheKey(slot: "product:\($0)", name: "detail"), tags: ["product:\($0)"]) }
        _ = try await test.fetch(items[1].key, tags: items[1].tags) { .found(buffer("p2")) }
        _ = try await test.fetch(items[3].key, tags: items[3].tags) { .found(buffer("p4")) }
        let calls = CallCounter()
        let results = try await test.cache.fetchMany(items, on: test.eventLoop) { missing in
            calls.increment()
            #expect(missing == [0, 2, 4])
            return Dictionary(uniqueKeysWithValues: missing.map { ($0, LoadResult.found(buffer("p\($0 + 1)"))) })
        }.get()
        #expect(calls.count == 1)
        #expect(results.map(\.value) == (1...5).map { buffer("p\($0)") })
        #expect(results.map(\.outcome) == [.miss(stored: true), .hit, .miss(stored: true), .hit, .miss(stored: true)])
    }

    @Test func anInvalidationThroughOneInstanceEvictsTheOthersNearCache() async throws {
        let prefix = TestEnvironment.uniqueName("t")
        let a = try TestCache.make(prefix: prefix, nearCacheBytes: 1 << 20)
        let b = try TestCache.make(prefix: prefix, nearCacheBytes: 1 << 20)
        let key = self.key
        let tags = self.tags
        try await a.withSubscriber {
            try await b.withSubscriber {
                _ = try await b.fetch(key, tags: tags) { .found(buffer("v1")) }
                #expect(b.cache.nearValue(key) == buffer("v1"))
                #expect(try await b.fetch(key, tags: tags) { .found(buffer("unused")) }.outcome == .nearHit)
                try await a.cache.invalidate(tags: tags)
                var evicted = false
                for _ in 0..<100 {
                    if b.cache.nearValue(key) == nil {
                        evicted = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(evicted)
                let after = try await b.fetch(key, tags: tags) { .found(buffer("v2")) }
                #expect(after.value == buffer("v2"))
            }
        }
    }
}

/// Stops a private redis-server mid-test.
@Suite(.serialized) struct RedisOutageTests {
    @Test func fetchesKeepSucceedingWhileRedisIsDownAndCachingResumesAfter() async throws {
        let redis = try ServiceProcess.redis()
        try await redis.start()
        do {
            let test = try TestCache.make(url: "redis://127.0.0.1:\(redis.port)/0", prefix: "outage")
            let key = CacheKey(slot: "category:1", name: "p")
            let calls = CallCounter()
            let loader: ReadThroughCache<ByteBuffer>.Loader = {
                calls.increment()
                return .found(buffer("from the database"))
            }
            #expect(try await test.fetch(key, tags: ["category:1"], loader: loader).outcome == .miss(stored: true))
            await redis.stop()
            for _ in 0..<20 {
                let result = try await test.fetch(key, tags: ["category:1"], loader: loader)
                #expect(result.value == buffer("from the database"))
                #expect(result.outcome == .bypass)
            }
            try await redis.start()
            var cachedAgain = false
            for _ in 0..<100 {
                let result = try await test.fetch(key, tags: ["category:1"], loader: loader)
                if result.outcome == .hit {
                    cachedAgain = true
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(cachedAgain)
        } catch {
            await redis.stop()
            throw error
        }
        await redis.stop()
    }
}
