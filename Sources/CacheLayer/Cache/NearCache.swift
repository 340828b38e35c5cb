import NIOCore
import Synchronization

/// The in-process near-cache (L1): bounded by bytes, least recently used out first, evicted by tag.
///
/// It holds values only while the invalidation channel is connected: a process that may have
/// missed a message flushes everything. An insert carries the tag epochs read before its load
/// began; if an invalidation of one of its tags arrived since, the insert is dropped, so a slow
/// loader cannot put old bytes back after the invalidation passed.
public final class NearCache<Value: Sendable>: Sendable {
    public struct Snapshot: Sendable {
        let epochs: [UInt64]
        let flushEpoch: UInt64
    }

    struct Entry {
        var value: Value
        var cost: Int
        var tags: [String]
        var softExpiry: Int64
        var expiresAt: NIODeadline
        var older: String?
        var newer: String?
    }

    struct State {
        var entries: [String: Entry] = [:]
        var byTag: [String: Set<String>] = [:]
        var tagEpochs: [String: UInt64] = [:]
        var flushEpoch: UInt64 = 0
        var enabled = false
        var bytes = 0
        /// Least recently used end.
        var oldest: String?
        /// Most recently used end.
        var newest: String?
    }

    public let capacityBytes: Int
    let ttl: Duration
    private let state = Mutex(State())

    public init(capacityBytes: Int, ttl: Duration) {
        self.capacityBytes = capacityBytes
        self.ttl = ttl
    }

    public var byteCount: Int { state.withLock { $0.bytes } }
    public var count: Int { state.withLock { $0.entries.count } }
    public var isEnabled: Bool { state.withLock { $0.enabled } }

    /// Turns the cache on (the invalidation channel is up) or off and empty (it is down).
    public func setEnabled(_ enabled: Bool) {
        state.withLock { state in
            if !enabled { Self.removeAll(&state) }
            state.enabled = enabled
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
            Self.touch(key, in: &state)
            return (entry.value, entry.softExpiry)
        }
    }

    /// The epochs of `tags` now: pass it to `insert` after loading.
    public func snapshot(tags: [String]) -> Snapshot {
        state.withLock { state in
            Snapshot(epochs: tags.map { state.tagEpochs[$0] ?? 0 }, flushEpoch: state.flushEpoch)
        }
    }

    /// Inserts unless disabled, too large, or one of its tags was invalidated since `snapshot`.
    /// - Returns: whether the value was inserted.
    @discardableResult
    public func insert(_ key: String, value: Value, cost: Int, tags: [String], softExpiry: Int64, snapshot: Snapshot)
        -> Bool
    {
        guard cost <= capacityBytes / 4 else { return false }
        let expiresAt = NIODeadline.now() + .milliseconds(ttl.milliseconds)
        return state.withLock { state in
            guard state.enabled, state.flushEpoch == snapshot.flushEpoch,
                tags.map({ state.tagEpochs[$0] ?? 0 }) == snapshot.epochs
            else { return false }
            if state.entries[key] != nil { Self.remove(key, from: &state) }
            state.entries[key] = Entry(
                value: value, cost: cost, tags: tags, softExpiry: softExpiry, expiresAt: expiresAt, older: state.newest,
                newer: nil)
            if let newest = state.newest { state.entries[newest]?.newer = key }
            state.newest = key
            if state.oldest == nil { state.oldest = key }
            state.bytes += cost
            for tag in tags { state.byTag[tag, default: []].insert(key) }
            while state.bytes > capacityBytes, let oldest = state.oldest { Self.remove(oldest, from: &state) }
            return true
        }
    }

    /// Evicts every entry carrying one of `tags`, and makes loads that began before now unable to
    /// insert under them.
    public func invalidate(tags: [String]) {
        state.withLock { state in
            for tag in tags {
                state.tagEpochs[tag, default: 0] &+= 1
                guard let keys = state.byTag[tag] else { continue }
                for key in keys { Self.remove(key, from: &state) }
            }
        }
    }

    public func removeAll() {
        state.withLock { Self.removeAll(&$0) }
    }

    private static func removeAll(_ state: inout State) {
        state.entries.removeAll()
        state.byTag.removeAll()
        state.bytes = 0
        state.oldest = nil
        state.newest = nil
        state.flushEpoch &+= 1
    }

    private static func touch(_ key: String, in state: inout State) {
        guard state.newest != key, let entry = state.entries[key] else { return }
        // Unlink.
        if let older = entry.older { state.entries[older]?.newer = entry.newer } else { state.oldest = entry.newer }
        if let newer = entry.newer { state.entries[newer]?.older = entry.older }
        // Link at the newest end.
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
