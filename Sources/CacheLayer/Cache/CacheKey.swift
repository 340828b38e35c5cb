/// Where an entry lives: `prefix:version:{slot}:e:name`.
///
/// The slot is a Redis Cluster hash tag, so every key of one category (its pages, its lease
/// keys, its tag generations) hashes to one slot and multi-key commands on them stay legal there.
public struct CacheKey: Sendable, Hashable, CustomStringConvertible {
    public let slot: String
    public let name: String

    public init(slot: String, name: String) {
        self.slot = slot
        self.name = name
    }

    public var description: String { "{\(slot)}:\(name)" }
}

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
    public func lease(_ key: CacheKey) -> String { "\(prefix):v\(version):{\(key.slot)}:l:\(key.name)" }
    /// Bumped by hard invalidation: entries stored under an older value are unreachable.
    public func hardGeneration(_ tag: String) -> String { "\(prefix):v\(version):{\(tag)}:gh" }
    /// Bumped by soft invalidation: entries stored under an older value are served stale once.
    public func softGeneration(_ tag: String) -> String { "\(prefix):v\(version):{\(tag)}:gs" }
    /// The pub/sub channel that carries invalidations to every process's near-cache.
    public var invalidationChannel: String { "\(prefix):v\(version):invalidations" }
}
