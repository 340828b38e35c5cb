/// The naming of every Redis key the cache uses, with a version prefix so a change of entry format
/// starts from an empty keyspace instead of misreading old entries.
public struct CacheKeyScheme: Sendable, Hashable {
    public let prefix: String
    public let version: Int

    public init(prefix: String = "gw", version: Int = 1) {
        self.prefix = prefix
        self.version = version
    }

    public func entry(_ key: CacheKey) -> String { "\(prefix):v\(version):{\(key.slot)}:e:\(key.name)" }
    /// The fill lease of `key` for loads that saw `generations`: a load for newer generations takes
    /// a lease of its own instead of waiting for one whose store will be refused.
    public func lease(_ key: CacheKey, generations: [CacheEntry.Generation]) -> String {
        var name = "\(prefix):v\(version):{\(key.slot)}:l:\(key.name)@"
        for (index, generation) in generations.enumerated() {
            if index > 0 { name += "," }
            name += "\(generation.hard).\(generation.soft)"
        }
        return name
    }
    /// Bumped by hard invalidation: entries stored under an older value are unreachable.
    public func hardGeneration(_ tag: String) -> String { "\(prefix):v\(version):{\(tag)}:gh" }
    /// Bumped by soft invalidation: entries stored under an older value are served stale once.
    public func softGeneration(_ tag: String) -> String { "\(prefix):v\(version):{\(tag)}:gs" }
    /// Marks a signed invalidation hook as applied (its signature, in hex), for the replay window.
    public func appliedHook(_ signature: String) -> String { "\(prefix):v\(version):{hooks}:applied:\(signature)" }
    /// The pub/sub channel that carries invalidations to every process's near-cache.
    public var invalidationChannel: String { "\(prefix):v\(version):invalidations" }
}
