import NIOCore

/// How an invalidation treats the entries it reaches.
public enum InvalidationMode: String, Sendable, Hashable, CaseIterable {
    /// Once `invalidate` returns, no reader gets the old bytes.
    case hard
    /// The old bytes are served stale while one refresh per entry runs (for bulk hooks).
    case soft
}

/// The generation counters of tags in Redis: what readers compare entries against, and what
/// writers and hooks bump. A process that writes without serving (import, seed, a gateway with the
/// cache off) needs only this, not a cache.
public struct TagGenerations: Sendable {
    public let redis: RedisClient
    public let scheme: CacheKeyScheme
    let probe: (any CacheProbe)?
    let metrics: CacheMetrics

    public init(redis: RedisClient, scheme: CacheKeyScheme = CacheKeyScheme(), probe: (any CacheProbe)? = nil) {
        self.init(redis: redis, scheme: scheme, probe: probe, metrics: CacheMetrics())
    }

    init(redis: RedisClient, scheme: CacheKeyScheme, probe: (any CacheProbe)?, metrics: CacheMetrics) {
        self.redis = redis
        self.scheme = scheme
        self.probe = probe
        self.metrics = metrics
    }

    /// The keys of the hard and soft generation of each tag, in tag order.
    public func keys(for tags: [String]) -> [String] {
        var keys: [String] = []
        keys.reserveCapacity(tags.count * 2)
        for tag in tags {
            keys.append(scheme.hardGeneration(tag))
            keys.append(scheme.softGeneration(tag))
        }
        return keys
    }

    /// The generations in the values of `keys(for:)` (a missing or unreadable value is 0).
    public static func parse(_ values: ArraySlice<ByteBuffer?>) -> [CacheEntry.Generation] {
        var result: [CacheEntry.Generation] = []
        result.reserveCapacity(values.count / 2)
        var index = values.startIndex
        while index + 1 < values.endIndex {
            result.append(CacheEntry.Generation(hard: counter(values[index]), soft: counter(values[index + 1])))
            index += 2
        }
        return result
    }

    /// A counter as Redis stores it: decimal digits, at most 19 of them (INCR stays within Int64).
    static func counter(_ value: ByteBuffer?) -> Int64 {
        guard let value, value.readableBytes > 0, value.readableBytes <= 19 else { return 0 }
        var number: Int64 = 0
        for byte in value.readableBytesView {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return 0 }
            let (shifted, overflow1) = number.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return 0 }
            number = sum
        }
        return number
    }

    /// The generations of `tags` now.
    public func current(_ tags: [String]) async throws -> [CacheEntry.Generation] {
        let keys = keys(for: tags)
        let values = try await redis.mget(keys)
        guard values.count == keys.count else { throw RedisError.protocolViolation("MGET answered a wrong count") }
        return Self.parse(values[...])
    }

    /// Bumps the generation of every tag (hard or soft) and invalidates every dependency tag
    /// (`slot#name`: the entries stored under it are deleted, whatever the mode), in one atomic
    /// script that also publishes the tags to every process's near-cache.
    ///
    /// On a Redis Cluster the tags are split by slot and one script runs per slot (in parallel):
    /// each slot's part is atomic, the whole is not, and the call returns only once every part
    /// has run. Every reader compares an entry with generations of its own slot only, so no
    /// reader can see a state that mixes parts in a way a single script would have prevented.
    /// With `replicasToAcknowledge` set (1 by default on a cluster), each part also waits for a
    /// replica to hold it, so a failover right after cannot lose it.
    /// - Returns: the entry keys the dependencies deleted.
    /// - Throws: `RedisError` when Redis could not be reached or a part was not replicated in
    ///   time; the caller keeps the invalidation (the outbox) and retries (bumping again is harmless).
    @discardableResult
    public func invalidate(_ tags: [String], mode: InvalidationMode) async throws -> [String] {
        guard !tags.isEmpty else { return [] }
        if let probe { try await probe.before(.invalidate, key: tags.joined(separator: ",")) }
        var deleted: [String] = []
        if redis.isCluster {
            var groups: [Substring: [String]] = [:]
            var order: [Substring] = []
            for tag in tags {
                let slot = CacheKeyScheme.slot(of: tag)
                if groups[slot] == nil { order.append(slot) }
                groups[slot, default: []].append(tag)
            }
            deleted = try await withThrowingTaskGroup(of: [String].self) { group in
                for slot in order {
                    let part = groups[slot] ?? []
                    group.addTask { try await self.invalidateInOneSlot(part, mode: mode) }
                }
                var all: [String] = []
                var failure: (any Error)?
                while let result = await group.nextResult() {
                    switch result {
                    case .success(let keys): all += keys
                    case .failure(let error): failure = failure ?? error
                    }
                }
                if let failure { throw failure }
                return all
            }
        } else {
            deleted = try await invalidateInOneSlot(tags, mode: mode)
        }
        if let probe { await probe.after(.invalidate, key: tags.joined(separator: ",")) }
        (mode == .hard ? metrics.hardInvalidations : metrics.softInvalidations).increment(by: tags.count)
        return deleted
    }

    /// One run of the invalidation script (on a cluster, `tags` share one slot).
    private func invalidateInOneSlot(_ tags: [String], mode: InvalidationMode) async throws -> [String] {
        var keys: [String] = []
        var dependencies: [String] = []
        for tag in tags where !CacheKeyScheme.isDependency(tag) {
            keys.append(mode == .hard ? scheme.hardGeneration(tag) : scheme.softGeneration(tag))
        }
        let generationCount = keys.count
        for tag in tags where CacheKeyScheme.isDependency(tag) {
            let slot = CacheKeyScheme.slot(of: tag)
            let (first, second) = scheme.dependencyKeys(tag)
            keys += [scheme.dependencySequence(slot: slot), scheme.dependencyChanges(slot: slot), first, second]
            dependencies.append(tag)
        }
        let message = InvalidationMessage(mode: mode, tags: tags).text
        let reply = try await redis.evalScript(
            CacheScripts.invalidate, keys: keys,
            arguments: [.string(scheme.invalidationChannel), .string(message), .integer(Int64(generationCount))]
                + dependencies.map { .string($0) },
            acknowledgedBy: redis.configuration.replicasToAcknowledge
        ).get()
        return reply.array?.compactMap(\.string) ?? []
    }

    /// The sequence number of `slot`'s dependency invalidations now (0 if there never was one).
    func dependencySequence(slot: some StringProtocol) async throws -> Int64 {
        let values = try await redis.mget([scheme.dependencySequence(slot: slot)])
        return Self.counter(values.first ?? nil)
    }
}

/// What travels on the invalidation channel: `h|tag,tag` or `s|tag,tag`.
public struct InvalidationMessage: Sendable, Hashable {
    public var mode: InvalidationMode
    public var tags: [String]

    public init(mode: InvalidationMode, tags: [String]) {
        self.mode = mode
        self.tags = tags
    }

    public var text: String { (mode == .hard ? "h|" : "s|") + tags.joined(separator: ",") }

    /// Reads a message; `nil` for anything else.
    public init?(_ text: String) {
        guard let bar = text.firstIndex(of: "|") else { return nil }
        switch text[..<bar] {
        case "h": mode = .hard
        case "s": mode = .soft
        default: return nil
        }
        tags = text[text.index(after: bar)...].split(separator: ",").map(String.init)
    }
}
