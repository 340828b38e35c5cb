/// The naming of every Redis key the cache uses, with a version prefix so a change of entry format
/// starts from an empty keyspace instead of misreading old entries.
public struct CacheKeyScheme: Sendable, Hashable {
    public let prefix: String
    public let version: Int

    /// Version 3: tags may name a part of a slot (`category:3/price`) and dependencies
    /// (`category:3#product:7`); entries record their dependencies.
    public init(prefix: String = "gw", version: Int = 3) {
        self.prefix = prefix
        self.version = version
    }

    public func entry(_ key: CacheKey) -> String { "\(prefix):v\(version):{\(key.slot)}:e:\(key.name)" }
    /// The fill lease of `key` for loads that saw `generations`: a load for newer generations takes
    /// a lease of its own instead of waiting for one whose store will be refused.
    public func lease(_ key: CacheKey, generations: [CacheEntry.Generation], sequence: Int64? = nil) -> String {
        var name = "\(prefix):v\(version):{\(key.slot)}:l:\(key.name)@"
        for (index, generation) in generations.enumerated() {
            if index > 0 { name += "," }
            name += "\(generation.hard).\(generation.soft)"
        }
        if let sequence { name += "#\(sequence)" }
        return name
    }
    /// Bumped by hard invalidation: entries stored under an older value are unreachable.
    public func hardGeneration(_ tag: String) -> String { "\(prefix):v\(version):\(Self.slotted(tag)):gh" }
    /// Bumped by soft invalidation: entries stored under an older value are served stale once.
    public func softGeneration(_ tag: String) -> String { "\(prefix):v\(version):\(Self.slotted(tag)):gs" }

    /// The Redis Cluster slot of a tag: the part before a `/` (a part of the slot, such as a
    /// category's price order) or a `#` (a dependency inside the slot), else the whole tag.
    public static func slot(of tag: String) -> Substring {
        guard let end = tag.firstIndex(where: { $0 == "/" || $0 == "#" }) else { return tag[...] }
        return tag[..<end]
    }

    /// A dependency tag: entries list it when they are stored, and invalidating it deletes exactly
    /// those entries instead of bumping a generation every entry of the slot reads. Two kinds:
    /// `slot#name` (the entry shows that thing) and a range, `slot/part@LOW..HIGH` with both
    /// bounds as 17-digit zero-padded integers (the entry shows the part's values in that range; an
    /// invalidation of a range deletes the entries whose range meets it).
    public static func isDependency(_ tag: String) -> Bool { tag.contains("#") || tag.contains("@") }

    /// A range dependency's base (`slot/part`), or `nil` for any other tag.
    public static func rangeBase(_ tag: String) -> Substring? {
        guard let at = tag.firstIndex(of: "@") else { return nil }
        return tag[..<at]
    }

    /// What the near-cache indexes a tag under: a range by its base (the near-cache evicts every
    /// entry of the part; Redis keeps the ones whose range the change does not meet).
    public static func nearTag(_ tag: String) -> String {
        rangeBase(tag).map(String.init) ?? tag
    }

    /// The two keys a dependency uses beside its slot's sequence and change record: the dependents
    /// set (twice) for `slot#name`; for a range, the hash of entries and their ranges, and the list
    /// of range changes.
    public func dependencyKeys(_ tag: String) -> (String, String) {
        if let base = Self.rangeBase(tag) {
            let slotted = Self.slotted(String(base))
            return ("\(prefix):v\(version):\(slotted):rp", "\(prefix):v\(version):\(slotted):rc")
        }
        let set = dependents(tag)
        return (set, set)
    }

    /// `{slot}rest`: the tag with its slot braced.
    static func slotted(_ tag: String) -> String {
        let slot = slot(of: tag)
        return "{\(slot)}\(tag[slot.endIndex...])"
    }

    /// Advanced by every dependency invalidation in `slot`; a fill reads it before loading.
    public func dependencySequence(slot: some StringProtocol) -> String { "\(prefix):v\(version):{\(slot)}:ds" }
    /// Per dependency of `slot`, the sequence number of its last invalidation.
    public func dependencyChanges(slot: some StringProtocol) -> String { "\(prefix):v\(version):{\(slot)}:dc" }
    /// The entry keys that depend on a dependency tag.
    public func dependents(_ tag: String) -> String { "\(prefix):v\(version):\(Self.slotted(tag)):di" }

    /// The key an entry key names, if it is one of this scheme's (`prefix:vN:{slot}:e:name`).
    public func cacheKey(fromEntry entryKey: String) -> CacheKey? {
        let head = "\(prefix):v\(version):{"
        guard entryKey.hasPrefix(head), let close = entryKey.range(of: "}:e:") else { return nil }
        let slot = entryKey[entryKey.index(entryKey.startIndex, offsetBy: head.count)..<close.lowerBound]
        return CacheKey(slot: String(slot), name: String(entryKey[close.upperBound...]))
    }
    /// Marks a signed invalidation hook as applied (its signature, in hex), for the replay window.
    public func appliedHook(_ signature: String) -> String { "\(prefix):v\(version):{hooks}:applied:\(signature)" }
    /// The pub/sub channel that carries invalidations to every process's near-cache.
    public var invalidationChannel: String { "\(prefix):v\(version):invalidations" }
}
