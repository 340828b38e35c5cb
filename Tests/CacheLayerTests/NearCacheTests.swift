import Testing

@testable import CacheLayer

@Suite struct NearCacheTests {
    func makeCache(bytes: Int = 1000) -> NearCache<String> {
        let cache = NearCache<String>(capacityBytes: bytes, ttl: .seconds(60))
        cache.setEnabled(true)
        return cache
    }

    @Test func evictsLeastRecentlyUsedPastTheByteBudget() {
        let cache = makeCache(bytes: 1000)
        for name in ["a", "b", "c", "d"] {
            #expect(
                cache.insert(
                    name, value: name, cost: 240, tags: [], softExpiry: .max, snapshot: cache.snapshot(tags: [])))
        }
        _ = cache.lookup("a")  // a is now the most recently used
        cache.insert("e", value: "e", cost: 240, tags: [], softExpiry: .max, snapshot: cache.snapshot(tags: []))
        #expect(cache.lookup("b") == nil)
        #expect(cache.lookup("a")?.value == "a")
        #expect(cache.byteCount <= 1000)
        #expect(cache.count == 4)
    }

    @Test func invalidatingATagEvictsEveryEntryCarryingIt() {
        let cache = makeCache()
        cache.insert(
            "p1", value: "1", cost: 10, tags: ["category:1", "product:1"], softExpiry: .max,
            snapshot: cache.snapshot(tags: ["category:1", "product:1"]))
        cache.insert(
            "p2", value: "2", cost: 10, tags: ["category:2"], softExpiry: .max,
            snapshot: cache.snapshot(tags: ["category:2"]))
        cache.invalidate(tags: ["category:1"])
        #expect(cache.lookup("p1") == nil)
        #expect(cache.lookup("p2")?.value == "2")
    }

    @Test func aLoadThatStartedBeforeAnInvalidationCannotInsert() {
        let cache = makeCache()
        let before = cache.snapshot(tags: ["category:1"])
        cache.invalidate(tags: ["category:1"])
        #expect(!cache.insert("p", value: "old", cost: 10, tags: ["category:1"], softExpiry: .max, snapshot: before))
        #expect(
            cache.insert(
                "p", value: "new", cost: 10, tags: ["category:1"], softExpiry: .max,
                snapshot: cache.snapshot(tags: ["category:1"])))
    }

    @Test func turningOffFlushesAndRefusesInserts() {
        let cache = makeCache()
        let snapshot = cache.snapshot(tags: [])
        cache.insert("k", value: "v", cost: 10, tags: [], softExpiry: .max, snapshot: snapshot)
        cache.setEnabled(false)
        #expect(cache.lookup("k") == nil)
        #expect(cache.byteCount == 0)
        cache.setEnabled(true)
        #expect(!cache.insert("k", value: "v", cost: 10, tags: [], softExpiry: .max, snapshot: snapshot))
    }
}
