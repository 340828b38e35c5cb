import NIOCore
import Testing

@testable import CacheLayer

@Suite struct CacheEntryTests {
    @Test func roundTripsHeaderAndPayload() throws {
        let entry = CacheEntry(
            flags: .negative, storedAt: 1_700_000_000_000, softExpiry: 1_700_000_060_000, loadMilliseconds: 12,
            generations: [.init(hard: 3, soft: 9), .init(hard: 0, soft: 0)], payload: ByteBuffer(string: "{\"a\":1}"))
        let encoded = try #require(entry.encoded())
        let decoded = try #require(CacheEntry(decoding: encoded))
        #expect(decoded == entry)
        #expect(String(buffer: decoded.payload) == "{\"a\":1}")
    }

    @Test func refusesWhatIsNotAnEntry() throws {
        #expect(CacheEntry(decoding: ByteBuffer(string: "plain value")) == nil)
        var truncated = try #require(
            CacheEntry(storedAt: 1, softExpiry: 2, generations: [.init(hard: 1, soft: 1)], payload: ByteBuffer())
                .encoded())
        truncated.moveWriterIndex(to: truncated.writerIndex - 4)
        #expect(CacheEntry(decoding: truncated) == nil)
    }

    @Test func keysShareTheirSlotsHashTag() {
        let scheme = CacheKeyScheme(prefix: "gw", version: 1)
        let key = CacheKey(slot: "category:42", name: "newest:20:1")
        #expect(scheme.entry(key) == "gw:v1:{category:42}:e:newest:20:1")
        #expect(
            scheme.lease(key, generations: [.init(hard: 3, soft: 1)]) == "gw:v1:{category:42}:l:newest:20:1@3.1")
        #expect(scheme.hardGeneration("category:42") == "gw:v1:{category:42}:gh")
    }

    @Test func anEntryWithMoreTagsThanTheFormatCountsIsNotEncoded() {
        let many = [CacheEntry.Generation](repeating: .init(hard: 0, soft: 0), count: Int(UInt16.max) + 1)
        #expect(CacheEntry(storedAt: 1, softExpiry: 2, generations: many, payload: ByteBuffer()).encoded() == nil)
    }
}
