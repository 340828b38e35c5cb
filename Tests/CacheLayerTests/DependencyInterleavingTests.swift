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

    @Test func aFillThatReadBeforeTheInvalidationIsNotStored() async throws {
        let test = try TestCache.make(prefix: TestEnvironment.uniqueName("d"))
        // Seed the slot's sequence, as any earlier change of the category does.
        try await test.cache.invalidate(tags: ["category:3#product:1"])
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
