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
                    name, value: name, cost: 240, tags: [], softExpiry: .max, snapshot: cache.snapshot()))
        }
        _ = cache.lookup("a")  // a is now the most recently used
        cache.insert("e", value: "e", cost: 240, tags: [], softExpiry: .max, snapshot: cache.snapshot())
        #expect(cache.lookup("b") == nil)
        #expect(cache.lookup("a")?.value == "a")
        #expect(cache.byteCount <= 1000)
        #expect(cache.count == 4)
    }

    @Test func expiredEntriesLeaveAsNewOnesArriveWithoutFillingTheBudget() async throws {
        let cache = NearCache<String>(capacityBytes: 1_000_000, ttl: .milliseconds(50))
        cache.setEnabled(true)
        for index in 0..<100 {
            cache.insert(
                "old\(index)", value: "x", cost: 100, tags: ["t\(index)"], softExpiry: .max, snapshot: cache.snapshot())
        }
        #expect(cache.count == 100)
        try await Task.sleep(for: .milliseconds(80))
        // A fresh entry that keeps being read stays; the expired ones go, a few per insert.
        for index in 0..<30 {
            cache.insert("new\(index)", value: "y", cost: 100, tags: [], softExpiry: .max, snapshot: cache.snapshot())
        }
        #expect(cache.count == 30, "expired entries left: \(cache.count - 30)")
        #expect(cache.byteCount == 3000)
        #expect(cache.lookup("new0")?.value == "y")
        #expect(cache.lookup("old5") == nil)
    }

    @Test func invalidatingATagEvictsEveryEntryCarryingIt() {
        let cache = makeCache()
        cache.insert(
            "p1", value: "1", cost: 10, tags: ["category:1", "product:1"], softExpiry: .max,
            snapshot: cache.snapshot())
        cache.insert(
            "p2", value: "2", cost: 10, tags: ["category:2"], softExpiry: .max,
            snapshot: cache.snapshot())
        cache.invalidate(tags: ["category:1"])
        #expect(cache.lookup("p1") == nil)
        #expect(cache.lookup("p2")?.value == "2")
    }

    @Test func aLoadThatStartedBeforeAnInvalidationCannotInsert() {
        let cache = makeCache()
        let before = cache.snapshot()
        cache.invalidate(tags: ["category:1"])
        #expect(!cache.insert("p", value: "old", cost: 10, tags: ["category:1"], softExpiry: .max, snapshot: before))
        #expect(
            cache.insert(
                "p", value: "new", cost: 10, tags: ["category:1"], softExpiry: .max,
                snapshot: cache.snapshot()))
    }

    @Test func turningOffFlushesAndRefusesInserts() {
        let cache = makeCache()
        let snapshot = cache.snapshot()
        cache.insert("k", value: "v", cost: 10, tags: [], softExpiry: .max, snapshot: snapshot)
        cache.setEnabled(false)
        #expect(cache.lookup("k") == nil)
        #expect(cache.byteCount == 0)
        cache.setEnabled(true)
        #expect(!cache.insert("k", value: "v", cost: 10, tags: [], softExpiry: .max, snapshot: snapshot))
    }

    @Test func aSnapshotTakenWhileOffIsRefusedOnceBackOn() {
        let cache = makeCache()
        cache.setEnabled(false)
        let whileOff = cache.snapshot()  // a load reading Redis while invalidations may be missed
        cache.setEnabled(true)
        #expect(!cache.insert("k", value: "old", cost: 10, tags: ["product:1"], softExpiry: .max, snapshot: whileOff))
        #expect(
            cache.insert("k", value: "new", cost: 10, tags: ["product:1"], softExpiry: .max, snapshot: cache.snapshot())
        )
    }

    @Test func theRecordOfInvalidatedTagsStaysBoundedAndStillFencesOldSnapshots() {
        let cache = NearCache<String>(capacityBytes: 1 << 20, ttl: .seconds(60), trackedTags: 10_000)
        cache.setEnabled(true)
        let early = cache.snapshot()
        cache.invalidate(tags: ["product:0"])
        for batch in 0..<1000 {
            cache.invalidate(tags: (0..<1000).map { "product:\(batch * 1000 + $0 + 1)" })
            #expect(cache.trackedTagCount <= 10_000)
        }
        // product:0's invalidation was forgotten long ago; a load from before it still cannot insert.
        #expect(!cache.insert("p0", value: "old", cost: 10, tags: ["product:0"], softExpiry: .max, snapshot: early))
        // A load that began after every invalidation can.
        #expect(
            cache.insert(
                "p0", value: "new", cost: 10, tags: ["product:0"], softExpiry: .max, snapshot: cache.snapshot()))
        // A load that began before the last one, for a tag it touched, cannot.
        let beforeLast = cache.snapshot()
        cache.invalidate(tags: ["product:5"])
        #expect(
            !cache.insert("p5", value: "old", cost: 10, tags: ["product:5"], softExpiry: .max, snapshot: beforeLast))
        #expect(cache.insert("p6", value: "ok", cost: 10, tags: ["product:6"], softExpiry: .max, snapshot: beforeLast))
    }
}
