import CacheLayer
import NIOCore
import TestSupport
import Testing

/// Entries with dependencies (listing pages and the products they show), against the real Redis:
/// a fill that read the database before a dependency's invalidation never stores, and an
/// invalidation reaches every entry stored under the dependency.
@Suite struct DependencyInterleavingTests {
    let key = CacheKey(slot: "category:3", name: "newest:20:1")
    let tags = ["category:3"]
    let shows = ["category:3#product:7", "category:3#product:8"]

    func fetch(_ test: TestCache, _ value: @escaping @Sendable () async -> String) async throws -> CacheResult<
        ByteBuffer
    > {
        let shows = self.shows
        return try await test.cache.fetch(key, tags: tags, dependent: true, on: test.eventLoop) {
            .dependent(buffer(await value()), on: shows)
        }.get()
    }

    @Test func aStoredPageIsDeletedByADependencyAndNotByAnotherProduct() async throws {
        let test = try TestCache.make(prefix: TestEnvironment.uniqueName("d"))
        #expect(try await fetch(test) { "v1" }.outcome == .miss(stored: true))
        #expect(try await fetch(test) { "unused" }.outcome == .hit)
        try await test.cache.invalidate(tags: ["category:3#product:99"])
        #expect(try await fetch(test) { "unused" }.outcome == .hit, "a product the page does not show reached it")
        try await test.cache.invalidate(tags: ["category:3#product:8"])
        let after = try await fetch(test) { "v2" }
        #expect(after.outcome == .miss(stored: true))
        #expect(after.value == buffer("v2"))
    }

    /// A fill that has read its data ("old") and waits for `release` before storing it.
    func heldFill(_ test: TestCache) async -> (Task<CacheResult<ByteBuffer>, any Error>, Latch) {
        let loading = Latch()
        let release = Latch()
        let early = Task {
            try await fetch(test) {
                await loading.open()
                await release.wait()
                return "old"
            }
        }
        await loading.wait()
        return (early, release)
    }

    /// A failover to a replica that had not received the last bump rolls a counter back; the next
    /// bump must not give it the value it had (a fill that saw that value would then store bytes
    /// older than the next write). Replayed on the slot's dependency sequence and on a tag's hard
    /// generation: the value before the last bump is written back, as the promoted replica has it.
    @Test(arguments: [true, false])
    func aBumpLostInAFailoverIsNotGivenBackByTheNext(dependency: Bool) async throws {
        let test = try TestCache.make(prefix: TestEnvironment.uniqueName("d"))
        let scheme = test.cache.scheme
        let counter = dependency ? scheme.dependencySequence(slot: "category:3") : scheme.hardGeneration("category:3")
        let lostBump = dependency ? "category:3#product:7" : "category:3"
        try await test.cache.invalidate(tags: [lostBump])
        let beforeLoss = try #require(try await test.redis.get(counter))
        try await test.cache.invalidate(tags: [lostBump])  // I1: acknowledged, then lost
        let (early, release) = await heldFill(test)  // reads after I1
        _ = try await test.redis.send(RESPCommand("SET", [.string(counter), .bytes(beforeLoss)]), key: counter).get()
        if dependency {
            // The replica had no record of I1's change either.
            let changes = scheme.dependencyChanges(slot: "category:3")
            _ = try await test.redis.send(
                RESPCommand("HDEL", [.string(changes), "category:3#product:7"]), key: changes
            )
            .get()
        }
        try await test.cache.invalidate(tags: [dependency ? "category:3#product:8" : "category:3"])  // I2
        await release.open()
        #expect(try await early.value.outcome == .miss(stored: false), "a fill from before I2 was stored")
        #expect(try await fetch(test) { "new" }.value == buffer("new"))
    }

    @Test func aFillThatReadBeforeTheInvalidationIsNotStored() async throws {
        let test = try TestCache.make(prefix: TestEnvironment.uniqueName("d"))
        // Seed the slot's sequence, as any earlier change of the category does.
        try await test.cache.invalidate(tags: ["category:3#product:1"])
        let (early, release) = await heldFill(test)
        try await test.cache.invalidate(tags: ["category:3#product:7"])
        await release.open()
        #expect(try await early.value.outcome == .miss(stored: false))
        let next = try await fetch(test) { "new" }
        #expect(next.value == buffer("new"))
    }

    /// The change record lost (a restart without persistence, an eviction) and created again by a
    /// change of another product: the record no longer reaches back to what the fill saw, so the
    /// fill that read before the lost change is refused.
    @Test func aFillIsRefusedWhenTheChangeRecordWasLostAndCreatedAgain() async throws {
        let prefix = TestEnvironment.uniqueName("d")
        let test = try TestCache.make(prefix: prefix)
        let scheme = CacheKeyScheme(prefix: prefix)
        try await test.cache.invalidate(tags: ["category:3#product:1"])
        let (early, release) = await heldFill(test)
        try await test.cache.invalidate(tags: ["category:3#product:7"])
        _ = try await test.redis.send(
            RESPCommand(
                "DEL",
                [
                    .string(scheme.dependencySequence(slot: "category:3")),
                    .string(scheme.dependencyChanges(slot: "category:3")),
                ])
        ).get()
        try await test.cache.invalidate(tags: ["category:3#product:40"])
        await release.open()
        #expect(try await early.value.outcome == .miss(stored: false))
    }

    /// A price-sorted page records the range of prices it shows; only a price change whose interval
    /// meets it deletes it, and a fill from before a change that meets its range is refused.
    @Test func pricePagesAreReachedOnlyByChangesThatMeetTheirRange() async throws {
        let test = try TestCache.make(prefix: TestEnvironment.uniqueName("d"))
        func bound(_ value: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: 17 - digits.count) + digits
        }
        func range(_ low: Int, _ high: Int) -> String { "category:3/price@\(bound(low))..\(bound(high))" }
        let page = CacheKey(slot: "category:3", name: "price_asc:20:2")
        let pageRange = range(100, 200)
        func fetchPage(_ value: @escaping @Sendable () async -> String) async throws -> CacheResult<ByteBuffer> {
            try await test.cache.fetch(page, tags: ["category:3"], dependent: true, on: test.eventLoop) {
                .dependent(buffer(await value()), on: [pageRange])
            }.get()
        }
        #expect(try await fetchPage { "v1" }.outcome == .miss(stored: true))
        try await test.cache.invalidate(tags: [range(300, 400)])
        try await test.cache.invalidate(tags: [range(10, 99)])
        #expect(try await fetchPage { "unused" }.outcome == .hit, "a change outside the page's prices reached it")
        try await test.cache.invalidate(tags: [range(50, 100)])
        #expect(
            try await fetchPage { "v2" }.outcome == .miss(stored: true), "a change meeting the page's low end missed it"
        )
        try await test.cache.invalidate(tags: [range(150, 160)])
        #expect(try await fetchPage { "v3" }.outcome == .miss(stored: true))

        // A fill that read before a meeting change is refused; one before a change elsewhere stores.
        for (change, stored) in [(range(190, 900), false), (range(500, 900), true)] {
            try await test.cache.invalidate(tags: [range(0, 99_999)])
            let loading = Latch()
            let release = Latch()
            let early = Task {
                try await fetchPage {
                    await loading.open()
                    await release.wait()
                    return "read before"
                }
            }
            await loading.wait()
            try await test.cache.invalidate(tags: [change])
            await release.open()
            let outcome = try await early.value.outcome
            #expect(outcome == .miss(stored: stored), "\(change): \(outcome)")
        }
    }

    /// A price change evicts every price-sorted page of the category from the near-cache (it indexes a
    /// range by its base); the refill ahead finds the pages the change did not meet still fresh in
    /// Redis and puts them back without loading.
    @Test func aRefillAheadOfAPageRedisKeptDoesNotLoad() async throws {
        var policy = CachePolicy()
        policy.refreshAhead = true
        let test = try TestCache.make(prefix: TestEnvironment.uniqueName("d"), policy: policy, nearCacheBytes: 1 << 20)
        let near = try #require(test.cache.near)
        near.setEnabled(true)
        let loads = CallCounter()
        let range = "category:3/price@\(String(repeating: "0", count: 14))100..\(String(repeating: "0", count: 14))200"
        let page = CacheKey(slot: "category:3", name: "price_asc:20:2")
        let loader: ReadThroughCache<ByteBuffer>.Loader = {
            loads.increment()
            return .dependent(buffer("page"), on: [range])
        }
        test.cache.setRefillSource { key in key == page ? (["category:3"], true, loader) : nil }
        #expect(
            try await test.cache.fetch(page, tags: ["category:3"], dependent: true, on: test.eventLoop, loader: loader)
                .get().outcome == .miss(stored: true))
        #expect(near.count == 1)
        let far = "category:3/price@\(String(repeating: "0", count: 14))500..\(String(repeating: "0", count: 14))900"
        try await test.cache.invalidate(tags: [far])
        let deadline = ContinuousClock.now + .seconds(5)
        while near.count == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(near.count == 1, "the page was not put back")
        #expect(loads.count == 1, "the refill loaded a page Redis still held")
    }

    @Test func anInvalidationReachesAnEntryStoredWithAShorterTTLLater() async throws {
        // Two stores of pages showing the same product, the second with a short TTL: the set that
        // names them must not expire with the second.
        var short = CachePolicy()
        short.hardTTL = .seconds(1)
        short.softTTL = .seconds(1)
        let prefix = TestEnvironment.uniqueName("d")
        let long = try TestCache.make(prefix: prefix)
        let brief = try TestCache.make(prefix: prefix, policy: short)
        #expect(try await fetch(long) { "v1" }.outcome == .miss(stored: true))
        let other = CacheKey(slot: "category:3", name: "newest:20:2")
        let shows = self.shows
        _ = try await brief.cache.fetch(other, tags: tags, dependent: true, on: brief.eventLoop) {
            .dependent(buffer("p2"), on: shows)
        }.get()
        try await Task.sleep(for: .milliseconds(1500))
        try await long.cache.invalidate(tags: ["category:3#product:7"])
        let after = try await fetch(long) { "v2" }
        #expect(after.value == buffer("v2"), "the page outlived its dependents set")
    }
}
