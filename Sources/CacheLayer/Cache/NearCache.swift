import NIOCore
import Synchronization

/// The in-process near-cache (L1): bounded by bytes, least recently used out first, evicted by tag.
///
/// It holds values only while the invalidation channel is proven alive: a process that may have
/// missed a message flushes everything and stays off until the channel is back.
///
/// Inserts are fenced by a sequence number. Every invalidation, flush, and switch on or off
/// advances it; a load takes a `Snapshot` of it before reading Redis and may insert only if none of
/// its tags was invalidated, and nothing was flushed, since. So a slow load cannot put old bytes
/// back after an invalidation passed, nor fill the cache with what it read while the channel was
/// down. The per-tag record is bounded (`trackedTags`): when full it is cleared and every snapshot
/// taken before is refused, which costs a few inserts and never admits an old one.
public final class NearCache<Value: Sendable>: Sendable {
    public struct Snapshot: Sendable, Hashable {
        let sequence: UInt64
    }

    struct Entry {
        var value: Value
        var cost: Int
        var tags: [String]
        var softExpiry: Int64
        var expiresAt: NIODeadline
        var older: String?
        var newer: String?
        /// `State.uses` when it was last moved to the most recently used end.
        var usedAt: UInt64 = 0
    }

    struct State {
        var entries: [String: Entry] = [:]
        var byTag: [String: Set<String>] = [:]
        /// The sequence number of each tag's last invalidation.
        var invalidatedAt: [String: UInt64] = [:]
        var sequence: UInt64 = 0
        /// Counts moves to the most recently used end (inserts and touches).
        var uses: UInt64 = 0
        /// Snapshots older than this are refused (a flush, a switch, a cleared tag record).
        var floor: UInt64 = 0
        var enabled = false
        var bytes = 0
        /// Least recently used end.
        var oldest: String?
        /// Most recently used end.
        var newest: String?
    }

    /// Expired entries removed from the least recently used end on each insert: more than one, so
    /// the sweep outpaces the inserts that follow a burst.
    static var sweepPerInsert: Int { 4 }

    public let capacityBytes: Int
    /// Most tags whose last invalidation is remembered.
    public let trackedTags: Int
    let ttl: Duration
    private let state = Mutex(State())

    public init(capacityBytes: Int, ttl: Duration, trackedTags: Int = 100_000) {
        self.capacityBytes = capacityBytes
        self.ttl = ttl
        self.trackedTags = max(1, trackedTags)
    }

    public var byteCount: Int { state.withLock { $0.bytes } }
    public var count: Int { state.withLock { $0.entries.count } }
    public var isEnabled: Bool { state.withLock { $0.enabled } }
    /// Tags whose last invalidation is remembered now (at most `trackedTags`).
    public var trackedTagCount: Int { state.withLock { $0.invalidatedAt.count } }

    /// Turns the cache on (the invalidation channel is proven alive) or off and empty. Either way
    /// no load that began before can insert.
    public func setEnabled(_ enabled: Bool) {
        state.withLock { state in
            if !enabled { Self.removeAll(&state) }
            state.enabled = enabled
            Self.fenceAll(&state)
        }
    }

    /// The value and its soft expiry, if present and within the near-cache TTL.
    public func lookup(_ key: String) -> (value: Value, softExpiry: Int64)? {
        state.withLock { state in
            guard state.enabled, let entry = state.entries[key] else { return nil }
            guard entry.expiresAt > .now() else {
                Self.remove(key, from: &state)
                return nil
            }
            Self.touch(key, in: &state, usedAt: entry.usedAt)
            return (entry.value, entry.softExpiry)
        }
    }

    /// The fence to pass to `insert`: take it before reading Redis.
    public func snapshot() -> Snapshot {
        state.withLock { Snapshot(sequence: $0.sequence) }
    }

    /// Inserts unless off, too large, or one of its tags was invalidated (or the cache flushed or
    /// switched) since `snapshot`.
    /// - Returns: whether the value was inserted.
    @discardableResult
    public func insert(_ key: String, value: Value, cost: Int, tags: [String], softExpiry: Int64, snapshot: Snapshot)
        -> Bool
    {
        guard cost <= capacityBytes / 4 else { return false }
        let now = NIODeadline.now()
        let expiresAt = now + .milliseconds(ttl.milliseconds)
        return state.withLock { state in
            guard state.enabled, snapshot.sequence >= state.floor,
                tags.allSatisfy({ (state.invalidatedAt[$0] ?? 0) <= snapshot.sequence })
            else { return false }
            if state.entries[key] != nil { Self.remove(key, from: &state) }
            state.uses &+= 1
            state.entries[key] = Entry(
                value: value, cost: cost, tags: tags, softExpiry: softExpiry, expiresAt: expiresAt, older: state.newest,
                newer: nil, usedAt: state.uses)
            if let newest = state.newest { state.entries[newest]?.newer = key }
            state.newest = key
            if state.oldest == nil { state.oldest = key }
            state.bytes += cost
            for tag in tags { state.byTag[tag, default: []].insert(key) }
            while state.bytes > capacityBytes, let oldest = state.oldest { Self.remove(oldest, from: &state) }
            // Expired entries at the least recently used end go too (a few per insert), so the cache
            // holds what was used within its TTL rather than filling its budget with the dead.
            var swept = 0
            while swept < Self.sweepPerInsert, let oldest = state.oldest, oldest != key,
                let entry = state.entries[oldest], entry.expiresAt <= now
            {
                Self.remove(oldest, from: &state)
                swept += 1
            }
            return true
        }
    }

    /// Evicts every entry carrying one of `tags`, and refuses inserts of loads that began before.
    /// - Returns: the keys evicted (entries read within the TTL: the ones worth refilling).
    @discardableResult
    public func invalidate(tags: [String]) -> [String] {
        state.withLock { state in
            var evicted: [String] = []
            state.sequence &+= 1
            if state.invalidatedAt.count + tags.count > trackedTags {
                // Forget every tag, and with them every snapshot taken so far.
                state.invalidatedAt.removeAll(keepingCapacity: true)
                state.floor = state.sequence
            }
            for tag in tags {
                if state.invalidatedAt.count < trackedTags { state.invalidatedAt[tag] = state.sequence }
                guard let keys = state.byTag[tag] else { continue }
                for key in keys {
                    Self.remove(key, from: &state)
                    evicted.append(key)
                }
            }
            return evicted
        }
    }

    /// The keys of the entries carrying one of `tags` now (nothing is evicted).
    public func keys(taggedWith tags: [String]) -> [String] {
        state.withLock { state in
            var keys: Set<String> = []
            for tag in tags { if let tagged = state.byTag[tag] { keys.formUnion(tagged) } }
            return Array(keys)
        }
    }

    /// Empties the cache; no load that began before can insert.
    public func removeAll() {
        state.withLock { state in
            Self.removeAll(&state)
            Self.fenceAll(&state)
        }
    }

    private static func fenceAll(_ state: inout State) {
        state.sequence &+= 1
        state.floor = state.sequence
        state.invalidatedAt.removeAll(keepingCapacity: false)
    }

    private static func removeAll(_ state: inout State) {
        state.entries.removeAll()
        state.byTag.removeAll()
        state.bytes = 0
        state.oldest = nil
        state.newest = nil
    }

    /// Moves `key` to the most recently used end, unless it is among the most recently used
    /// half already: a hot entry is then read under the lock without rewriting the list on every
    /// hit (an approximation of LRU that evicts no entry a strict one would keep long).
    private static func touch(_ key: String, in state: inout State, usedAt: UInt64) {
        guard state.newest != key, state.uses &- usedAt > UInt64(state.entries.count / 2) else { return }
        touch(key, in: &state)
    }

    private static func touch(_ key: String, in state: inout State) {
        guard state.newest != key, let entry = state.entries[key] else { return }
        state.uses &+= 1
        state.entries[key]?.usedAt = state.uses
        if let older = entry.older { state.entries[older]?.newer = entry.newer } else { state.oldest = entry.newer }
        if let newer = entry.newer { state.entries[newer]?.older = entry.older }
        state.entries[key]?.older = state.newest
        state.entries[key]?.newer = nil
        if let newest = state.newest { state.entries[newest]?.newer = key }
        state.newest = key
    }

    private static func remove(_ key: String, from state: inout State) {
        guard let entry = state.entries.removeValue(forKey: key) else { return }
        if let older = entry.older { state.entries[older]?.newer = entry.newer } else { state.oldest = entry.newer }
        if let newer = entry.newer { state.entries[newer]?.older = entry.older } else { state.newest = entry.older }
        state.bytes -= entry.cost
        for tag in entry.tags {
            state.byTag[tag]?.remove(key)
            if state.byTag[tag]?.isEmpty == true { state.byTag[tag] = nil }
        }
    }
}
