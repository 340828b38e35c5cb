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
