import CacheLayer
import NIOCore
import Testing

/// The freshness rules, without Redis.
@Suite struct EntryPolicyTests {
    let policy = EntryPolicy()

    func entry(_ generations: [CacheEntry.Generation], softExpiry: Int64 = 2000, loadMilliseconds: UInt32 = 0)
        -> CacheEntry
    {
        CacheEntry(
            storedAt: 1000, softExpiry: softExpiry, loadMilliseconds: loadMilliseconds, generations: generations,
            payload: ByteBuffer(string: "x"))
    }

    @Test func sameGenerationsBeforeExpiryIsFresh() {
        let stored = entry([.init(hard: 3, soft: 1)])
        #expect(policy.verdict(for: stored, generations: [.init(hard: 3, soft: 1)], now: 1500) == .fresh)
    }

    @Test func aChangedHardGenerationIsAMissWhateverElseHolds() {
        let stored = entry([.init(hard: 3, soft: 1), .init(hard: 0, soft: 0)])
        #expect(
            policy.verdict(for: stored, generations: [.init(hard: 3, soft: 1), .init(hard: 1, soft: 0)], now: 1500)
                == .miss)
        #expect(
            policy.verdict(for: stored, generations: [.init(hard: 4, soft: 2), .init(hard: 0, soft: 0)], now: 1500)
                == .miss)
        #expect(
            policy.verdict(for: stored, generations: [.init(hard: 2, soft: 1), .init(hard: 0, soft: 0)], now: 9999)
                == .miss)
    }

    @Test func aChangedSoftGenerationIsStaleInvalidated() {
        let stored = entry([.init(hard: 3, soft: 1)])
        #expect(policy.verdict(for: stored, generations: [.init(hard: 3, soft: 2)], now: 1500) == .stale(.invalidated))
    }

    @Test func pastTheSoftExpiryIsStaleExpired() {
        let stored = entry([.init(hard: 3, soft: 1)])
        #expect(policy.verdict(for: stored, generations: [.init(hard: 3, soft: 1)], now: 2000) == .stale(.expired))
    }

    @Test func nothingStoredOrATagCountThatDiffersIsAMiss() {
        #expect(policy.verdict(for: nil, generations: [.init(hard: 0, soft: 0)], now: 0) == .miss)
        let stored = entry([.init(hard: 0, soft: 0)])
        #expect(policy.verdict(for: stored, generations: [], now: 1500) == .miss)
        #expect(
            policy.verdict(for: stored, generations: [.init(hard: 0, soft: 0), .init(hard: 0, soft: 0)], now: 1500)
                == .miss)
    }

    @Test func earlyRefreshGrowsLikelierNearExpiryAndForSlowLoads() {
        let xfetch = EntryPolicy(earlyRefreshBeta: 1)
        let slow = entry([.init(hard: 0, soft: 0)], softExpiry: 2000, loadMilliseconds: 100)
        let now: [CacheEntry.Generation] = [.init(hard: 0, soft: 0)]
        // -ln(0.5) * 100 ms ≈ 69 ms ahead: refresh at 1950, not at 1900.
        #expect(xfetch.verdict(for: slow, generations: now, now: 1950, draw: 0.5) == .stale(.expired))
        #expect(xfetch.verdict(for: slow, generations: now, now: 1900, draw: 0.5) == .fresh)
        // A draw of 1 never refreshes early; beta 0 never does.
        #expect(xfetch.verdict(for: slow, generations: now, now: 1999, draw: 1) == .fresh)
        #expect(policy.verdict(for: slow, generations: now, now: 1999, draw: 0.0001) == .fresh)
        // Out-of-range draws are ignored rather than trusted.
        #expect(xfetch.verdict(for: slow, generations: now, now: 1000, draw: 0) == .fresh)
        #expect(xfetch.verdict(for: slow, generations: now, now: 1000, draw: .nan) == .fresh)
    }

    @Test func generationCountersAreReadStrictly() {
        func parse(_ values: [String?]) -> [CacheEntry.Generation] {
            TagGenerations.parse(values.map { $0.map { ByteBuffer(string: $0) } }[...])
        }
        #expect(parse(["12", "3"]) == [.init(hard: 12, soft: 3)])
        #expect(
            parse([nil, nil, "9223372036854775807", "0"]) == [.init(hard: 0, soft: 0), .init(hard: .max, soft: 0)])
        // Not a counter Redis would have written: read as 0 (which only ever causes a miss).
        #expect(parse(["99999999999999999999", "-1"]) == [.init(hard: 0, soft: 0)])
        #expect(parse(["1x", ""]) == [.init(hard: 0, soft: 0)])
    }

    @Test func invalidationMessagesRoundTrip() {
        let message = InvalidationMessage(mode: .soft, tags: ["category:1", "product:2"])
        #expect(message.text == "s|category:1,product:2")
        #expect(InvalidationMessage(message.text) == message)
        #expect(InvalidationMessage("h|product:9")?.tags == ["product:9"])
        #expect(InvalidationMessage("x|product:9") == nil)
        #expect(InvalidationMessage("no bar") == nil)
    }
}
