import Foundation

/// Decides how a stored entry may be served: from the entry, its tags' generations now, and the
/// time. Pure, so every rule of `docs/cache.md` is unit-tested without Redis.
public struct EntryPolicy: Sendable, Hashable {
    /// What a reader does with what Redis returned.
    public enum Verdict: Sendable, Hashable {
        /// Serve it: same generations, before its soft expiry.
        case fresh
        /// Serve it while one refresh runs: past its soft expiry (or drawn for an early refresh),
        /// or soft-invalidated since it was stored.
        case stale(CacheOutcome.StaleReason)
        /// Load: nothing stored, not an entry, or a hard generation changed since it was stored.
        case miss
    }

    /// XFetch's beta: 0 turns probabilistic early refresh off; 1 is the usual setting.
    public var earlyRefreshBeta: Double

    public init(earlyRefreshBeta: Double = 0) {
        self.earlyRefreshBeta = earlyRefreshBeta
    }

    /// - Parameters:
    ///   - entry: what is stored under the key, if anything.
    ///   - generations: the hard and soft generation of each of the key's tags now, in tag order.
    ///   - now: milliseconds since the Unix epoch.
    ///   - draw: a uniform random number in (0, 1] for the early-refresh decision.
    public func verdict(
        for entry: CacheEntry?, generations: [CacheEntry.Generation], now: Int64,
        draw: Double = Double.random(in: Double.ulpOfOne...1)
    ) -> Verdict {
        guard let entry, entry.generations.count == generations.count else { return .miss }
        var softCurrent = true
        for (stored, current) in zip(entry.generations, generations) {
            if stored.hard != current.hard { return .miss }
            if stored.soft != current.soft { softCurrent = false }
        }
        guard softCurrent else { return .stale(.invalidated) }
        if now >= entry.softExpiry || refreshesEarly(entry, now: now, draw: draw) { return .stale(.expired) }
        return .fresh
    }

    /// XFetch (Vattani et al., VLDB 2015): refresh before expiry with a probability that grows as
    /// expiry nears and with how long the entry took to load.
    func refreshesEarly(_ entry: CacheEntry, now: Int64, draw: Double) -> Bool {
        guard earlyRefreshBeta > 0, entry.loadMilliseconds > 0, draw > 0, draw <= 1 else { return false }
        let gap = Double(entry.loadMilliseconds) * earlyRefreshBeta * -log(draw)
        return Double(now) + gap >= Double(entry.softExpiry)
    }
}
