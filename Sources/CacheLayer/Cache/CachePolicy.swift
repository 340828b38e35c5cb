/// How long entries live and how the cache behaves around expiry, leases and failures.
public struct CachePolicy: Sendable, Hashable {
    /// Fresh for this long; then served stale while one refresh runs.
    public var softTTL: Duration = .seconds(60)
    /// Kept in Redis this long after storing: the window for stale-while-revalidate and
    /// stale-if-error.
    public var hardTTL: Duration = .seconds(3600)
    /// How long a "not found" is remembered.
    public var negativeTTL: Duration = .seconds(10)
    /// How long a fill lease is held at most (a crashed filler's lease lapses after this).
    public var leaseTTL: Duration = .seconds(5)
    /// How long a process that lost the lease waits for the winner's entry before loading itself.
    public var leaseWait: Duration = .seconds(2)
    /// XFetch's beta: 0 turns probabilistic early refresh off; 1 is the usual setting.
    public var earlyRefreshBeta: Double = 0
    /// The near-cache's outer bound on staleness, should an invalidation message be lost.
    public var nearCacheTTL: Duration = .seconds(5)
    /// How often the invalidation subscription is pinged to prove it alive.
    public var invalidationPingInterval: Duration = .seconds(1)
    /// With no reply for this long the subscription counts as down and the near-cache goes off.
    public var invalidationTimeout: Duration = .seconds(2)
    /// Background refreshes running at once.
    public var refreshConcurrency = 4
    /// Background refreshes waiting at most; more are dropped (served stale until a later read).
    public var refreshQueueLimit = 1000
    /// Refill the recently read entries an invalidation of this process evicted (refresh-ahead).
    /// Off by default: a process refilling ahead grows in memory over time (docs/cache.md).
    public var refreshAhead = false
    /// Loads shared through single-flight at once; past that a reader loads on its own.
    public var singleFlightCapacity = 10_000

    public init() {}
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
