import NIOCore

/// How a fetch was served.
public enum CacheOutcome: Sendable, Hashable {
    /// From this process's near-cache, without a round trip.
    case nearHit
    /// From Redis, fresh.
    case hit
    /// From Redis past its soft TTL or soft-invalidated, while one refresh runs; `refreshFailed`
    /// when the last refresh failed (stale-if-error).
    case stale(StaleReason)
    /// Loaded; `stored` is false when an invalidation during the load kept it out of the cache.
    case miss(stored: Bool)
    /// Redis is unavailable: loaded directly, nothing stored.
    case bypass

    public enum StaleReason: String, Sendable, Hashable {
        case expired
        case invalidated
        case refreshFailed = "refresh-failed"
    }

    /// The metrics label.
    public var label: String {
        switch self {
        case .nearHit: "near_hit"
        case .hit: "hit"
        case .stale: "stale"
        case .miss: "miss"
        case .bypass: "bypass"
        }
    }
}

/// What a loader found.
public enum LoadResult: Sendable {
    /// The bytes to store and serve.
    case found(ByteBuffer)
    /// The bytes to store and serve, which show what the dependency tags name (all in the entry's
    /// slot, `slot#name`): invalidating one of them deletes this entry.
    case dependent(ByteBuffer, on: [String])
    /// A "not found" worth remembering for the negative TTL, with the bytes to serve for it.
    case notFound(ByteBuffer)
}

/// A fetched value and how it was served.
public struct CacheResult<Value: Sendable>: Sendable {
    public var value: Value
    public var outcome: CacheOutcome
    /// The value is a cached "not found".
    public var negative: Bool
    /// Milliseconds since the Unix epoch when the value stops being fresh.
    public var softExpiry: Int64
}
