import Logging
import Metrics
import NIOCore
import NIOPosix
import Synchronization

/// A read-through cache of opaque bytes in Redis, with a near-cache of decoded values in front.
///
/// It only composes its parts (see `docs/cache.md`): `EntryPolicy` says whether what Redis holds
/// is fresh, stale or a miss; `SingleFlight` shares one load among readers that saw the same
/// generations; `Filler` takes the lease, loads and stores conditionally; `Refresher` runs the
/// background refreshes through one bounded queue; `TagGenerations` is what invalidations bump;
/// `NearCache` and `NearCacheCoherence` keep the in-process copy coherent.
///
/// Read-your-writes in one process is exact: once `invalidate` has returned, no fetch that starts
/// afterwards gets bytes loaded before it, from Redis, from a shared load or from the near-cache.
public final class ReadThroughCache<Value: Sendable>: Sendable {
    public typealias Decode = @Sendable (_ payload: ByteBuffer, _ negative: Bool) -> Value
    public typealias Loader = @Sendable () async throws -> LoadResult

    public let redis: RedisClient
    public let scheme: CacheKeyScheme
    public let policy: CachePolicy
    public let near: NearCache<Value>?
    /// The tags' generations; invalidate through `invalidate(tags:mode:)`, which also fences this
    /// process's near-cache and shared loads.
    let generations: TagGenerations
    /// The same, over the connections writers use (`invalidationRedis`), so an invalidation does
    /// not queue behind storefront reads.
    let writerGenerations: TagGenerations
    /// Runs this cache's background refreshes: add it to the service group.
    public let refresher: Refresher
    let flights: SingleFlight<FlightKey, CacheResult<Value>>
    private let filler: Filler
    private let entryPolicy: EntryPolicy
    private let decode: Decode
    private let cost: @Sendable (Value) -> Int
    private let logger: Logger
    private let metrics = CacheMetrics()
    private let probe: (any CacheProbe)?
    /// Advanced after every invalidation this process makes. A load is shared only by readers that
    /// started after the same invalidations: even if Redis lost its generations (a restart without
    /// persistence) or could not be read at all, no reader shares a load from before a write this
    /// process acknowledged.
    private let localInvalidations = Atomic<UInt64>(0)

    /// What a shared load depends on: the entry, what its reader saw of the tags, and this
    /// process's invalidations before the reader started.
    struct FlightKey: Hashable, Sendable {
        let entry: String
        /// Empty for a load that bypasses Redis.
        let generations: [CacheEntry.Generation]
        /// The slot's dependency sequence, for an entry that may have dependencies.
        var sequence: Int64? = nil
        let epoch: UInt64
        let bypass: Bool
    }

    /// - Parameters:
    ///   - nearCacheBytes: the near-cache's budget; 0 turns it off.
    ///   - decode: turns stored payload bytes into the value served (done once per fill or Redis hit).
    ///   - cost: the bytes a value holds, for the near-cache budget.
    ///   - probe: a test seam around each Redis round trip; `nil` in production.
    ///   - invalidationRedis: the client invalidations go through (the same server as `redis`,
    ///     usually on the writers' own thread); `nil`: `redis`.
    public init(
        redis: RedisClient, scheme: CacheKeyScheme = CacheKeyScheme(), policy: CachePolicy = CachePolicy(),
        nearCacheBytes: Int = 64 << 20, logger: Logger, decode: @escaping Decode,
        cost: @escaping @Sendable (Value) -> Int, probe: (any CacheProbe)? = nil, invalidationRedis: RedisClient? = nil
    ) {
        self.redis = redis
        self.scheme = scheme
        self.policy = policy
        self.near = nearCacheBytes > 0 ? NearCache(capacityBytes: nearCacheBytes, ttl: policy.nearCacheTTL) : nil
        self.decode = decode
        self.cost = cost
        self.logger = logger
        self.probe = probe
        self.entryPolicy = EntryPolicy(earlyRefreshBeta: policy.earlyRefreshBeta)
        let metrics = self.metrics
        let generations = TagGenerations(redis: redis, scheme: scheme, probe: probe, metrics: metrics)
        self.generations = generations
        self.writerGenerations =
            invalidationRedis.map { TagGenerations(redis: $0, scheme: scheme, probe: probe, metrics: metrics) }
            ?? generations
        self.refresher = Refresher(
            concurrency: policy.refreshConcurrency, queueLimit: policy.refreshQueueLimit,
            failureWindow: policy.softTTL, logger: logger)
        self.flights = SingleFlight(capacity: policy.singleFlightCapacity)
        self.filler = Filler(
            redis: redis, scheme: scheme, generations: generations, policy: policy, entryPolicy: entryPolicy,
            metrics: metrics, probe: probe)
    }

    /// The subscriber that keeps the near-cache coherent: add it to the service group. Until it
    /// has subscribed, and whenever the channel is lost or stops answering, the near-cache is off
    /// and empty.
    public func makeInvalidationSubscriber(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton)
        -> RedisSubscriber
    {
        let redis = self.redis
        let channel = scheme.invalidationChannel
        // On a cluster, proof that messages reach the subscribed node: a heartbeat through every
        // master (on one server the subscription's own PING proves it).
        var heartbeat: RedisSubscriber.Heartbeat?
        if redis.isCluster {
            heartbeat = { @Sendable message in
                try await redis.sendToEveryMaster(RESPCommand("PUBLISH", [.string(channel), .string(message)])).count
            }
        }
        return NearCacheCoherence(near: near, logger: logger).makeSubscriber(
            configuration: redis.configuration, nodes: { redis.knownNodes }, channel: channel,
            pingInterval: policy.invalidationPingInterval, timeout: policy.invalidationTimeout,
            heartbeat: heartbeat, group: group)
    }

    /// The near-cache's fresh value for `key`: the data plane's synchronous hit path.
    public func nearValue(_ key: CacheKey) -> Value? {
        nearResult(scheme.entry(key))?.value
    }

    /// Returns the value for `key`, loading and storing it on a miss.
    ///
    /// - Parameters:
    ///   - tags: what the value was built from; invalidating any of them reaches this entry. The
    ///     same key must always be fetched with the same tags.
    ///   - dependent: the loader may answer `.dependent` (dependency tags in the key's slot): the
    ///     read then also takes the slot's dependency sequence, which fences the fill.
    ///   - eventLoop: where the future completes (a Redis hit never leaves it).
    ///   - loader: runs on a miss, at most once per process at a time for this key and generations.
    public func fetch(
        _ key: CacheKey, tags: [String], dependent: Bool = false, on eventLoop: any EventLoop,
        loader: @escaping Loader
    ) -> EventLoopFuture<CacheResult<Value>> {
        let entryKey = scheme.entry(key)
        if let hit = nearResult(entryKey) { return eventLoop.makeSucceededFuture(hit) }
        // Both fences are taken before Redis is read.
        let snapshot = near?.snapshot()
        let epoch = localInvalidations.load(ordering: .acquiring)
        var keys = [entryKey] + generations.keys(for: tags)
        let generationEnd = keys.count
        if dependent { keys.append(scheme.dependencySequence(slot: key.slot)) }
        return read(keys, probeKey: entryKey, on: eventLoop).flatMap { values in
            guard let values else { return self.bypass(entryKey, epoch: epoch, on: eventLoop, loader: loader) }
            let current = TagGenerations.parse(values[1..<generationEnd])
            let sequence = dependent ? TagGenerations.counter(values[generationEnd]) : nil
            let entry = values[0].flatMap(CacheEntry.init(decoding:))
            if let served = self.serve(
                entry, generations: current, entryKey: entryKey, tags: tags, snapshot: snapshot,
                refresh: { self.refresh(key, entryKey: entryKey, tags: tags, dependent: dependent, loader: loader) })
            {
                return eventLoop.makeSucceededFuture(served)
            }
            return self.fill(
                key, entryKey: entryKey, tags: tags, observed: current, sequence: sequence, snapshot: snapshot,
                epoch: epoch, on: eventLoop, loader: loader)
        }
    }

    /// Fetches many keys with one MGET and one loader call for all the misses.
    ///
    /// Stale items are loaded with the misses; should that load fail they are served stale.
    /// - Parameter loader: called once with the positions of the items to load; returns what it
    ///   found for each (a position it leaves out is treated as not found, with an empty payload).
    public func fetchMany(
        _ items: [(key: CacheKey, tags: [String])], on eventLoop: any EventLoop,
        loader: @escaping @Sendable ([Int]) async throws -> [Int: LoadResult]
    ) -> EventLoopFuture<[CacheResult<Value>]> {
        var results = [CacheResult<Value>?](repeating: nil, count: items.count)
        var pending: [Int] = []
        for (index, item) in items.enumerated() {
            if let hit = nearResult(scheme.entry(item.key)) {
                results[index] = hit
            } else {
                pending.append(index)
            }
        }
        guard !pending.isEmpty else { return eventLoop.makeSucceededFuture(results.map { $0! }) }
        let snapshot = near?.snapshot()
        var keys: [String] = pending.map { scheme.entry(items[$0].key) }
        var generationSlots: [String: Int] = [:]
        for index in pending {
            for key in generations.keys(for: items[index].tags) where generationSlots[key] == nil {
                generationSlots[key] = keys.count
                keys.append(key)
            }
        }
        let slots = generationSlots
        let frozen = results
        let toRead = pending
        return read(keys, probeKey: keys[0], on: eventLoop).flatMap { values in
            var results = frozen
            // Items to load: their position, what was read of their tags, and a stale copy.
            var loads: [(index: Int, observed: [CacheEntry.Generation]?, stale: CacheResult<Value>?)] = []
            for (position, index) in toRead.enumerated() {
                let item = items[index]
                guard let values else {
                    loads.append((index, nil, nil))
                    continue
                }
                let current = TagGenerations.parse(
                    self.generations.keys(for: item.tags).map { key in slots[key].flatMap { values[$0] } }[...])
                let entry = values[position].flatMap(CacheEntry.init(decoding:))
                let entryKey = self.scheme.entry(item.key)
                let served = self.serve(
                    entry, generations: current, entryKey: entryKey, tags: item.tags, snapshot: snapshot, refresh: nil)
                if let served, served.outcome == .hit {
                    results[index] = served
                } else {
                    loads.append((index, current, served))
                }
            }
            guard !loads.isEmpty else { return eventLoop.makeSucceededFuture(results.map { $0! }) }
            let partial = results
            let toLoad = loads
            return eventLoop.makeFutureWithTask {
                try await self.loadMany(items, loads: toLoad, into: partial, snapshot: snapshot, loader: loader)
            }
        }
    }

    /// Invalidates every entry carrying one of `tags`.
    ///
    /// Hard: once this returns, no fetch in this process serves the old bytes (from Redis, a shared
    /// load or the near-cache); other processes' near-caches drop them when the message reaches
    /// them. Soft: old entries are served stale while one refresh each runs.
    /// Dependency tags (`slot#name`) delete the entries stored under them, in either mode.
    /// - Throws: `RedisError` when Redis could not be reached (the caller retries later).
    ///
    /// Refresh-ahead: the entries of this invalidation's tags in the near-cache (read here within
    /// its TTL, so likely to be read again) are refilled in the background through the refresh
    /// queue, fenced like every fill, so their next reader finds the new bytes.
    public func invalidate(tags: [String], mode: InvalidationMode = .hard) async throws {
        guard !tags.isEmpty else { return }
        // What to refill is taken before the bump: the invalidation's own message may reach this
        // process's subscriber, and evict these entries, before Redis has answered the script.
        let nearTags = tags.map(CacheKeyScheme.nearTag)
        let hot = policy.refreshAhead ? near?.keys(taggedWith: nearTags) ?? [] : []
        do {
            try await writerGenerations.invalidate(tags, mode: mode)
        } catch {
            near?.invalidate(tags: nearTags)
            localInvalidations.add(1, ordering: .releasing)
            throw error
        }
        // After the bump: a load that read Redis before it can no longer enter the near-cache or
        // be shared with readers that start from now on.
        near?.invalidate(tags: nearTags)
        localInvalidations.add(1, ordering: .releasing)
        refillAhead(hot)
    }

    /// Where refresh-ahead finds how to load a key: set once by the owner of the loaders.
    public typealias RefillSource = @Sendable (CacheKey) -> (tags: [String], dependent: Bool, loader: Loader)?
    private let refillSource = Mutex<RefillSource?>(nil)
    private let refillsAhead = Counter(label: "cache_refills_ahead_total")

    /// Turns refresh-ahead on: `source` gives the tags and loader of a key it knows.
    public func setRefillSource(_ source: @escaping RefillSource) {
        refillSource.withLock { $0 = source }
    }

    private func refillAhead(_ entryKeys: [String]) {
        guard policy.refreshAhead, !entryKeys.isEmpty, let source = refillSource.withLock({ $0 }) else { return }
        for entryKey in entryKeys {
            guard let key = scheme.cacheKey(fromEntry: entryKey), let (tags, dependent, loader) = source(key) else {
                continue
            }
            if refresh(key, entryKey: entryKey, tags: tags, dependent: dependent, loader: loader) == .queued {
                refillsAhead.increment()
            }
        }
    }

    // MARK: - Reading

    private func nearResult(_ entryKey: String) -> CacheResult<Value>? {
        guard let near, let (value, softExpiry) = near.lookup(entryKey), softExpiry > CacheClock.nowMilliseconds()
        else { return nil }
        metrics.nearHits.increment()
        return CacheResult(value: value, outcome: .nearHit, negative: false, softExpiry: softExpiry)
    }

    /// One MGET; `nil` when Redis could not be read (the caller bypasses it).
    private func read(_ keys: [String], probeKey: String, on eventLoop: any EventLoop) -> EventLoopFuture<
        [ByteBuffer?]?
    > {
        let values: EventLoopFuture<[ByteBuffer?]>
        if let probe {
            values = eventLoop.makeFutureWithTask { try await probe.before(.read, key: probeKey) }
                .flatMap { self.redis.mget(keys, on: eventLoop) }
                .flatMap { values in
                    eventLoop.makeFutureWithTask { await probe.after(.read, key: probeKey) }.map { values }
                }
        } else {
            values = redis.mget(keys, on: eventLoop)
        }
        return values.map { $0.count == keys.count ? $0 : nil }.flatMapError { [metrics] _ in
            metrics.redisErrors.increment()
            return eventLoop.makeSucceededFuture(nil)
        }
    }

    /// The answer for what Redis holds, or `nil` when it must be loaded. A fresh entry enters the
    /// near-cache; a stale one is served while `refresh` runs.
    private func serve(
        _ entry: CacheEntry?, generations: [CacheEntry.Generation], entryKey: String, tags: [String],
        snapshot: NearCache<Value>.Snapshot?, refresh: (() -> Void)?
    ) -> CacheResult<Value>? {
        let verdict = entryPolicy.verdict(for: entry, generations: generations, now: CacheClock.nowMilliseconds())
        guard let entry, verdict != .miss else { return nil }
        let negative = entry.flags.contains(.negative)
        let value = decode(entry.payload, negative)
        switch verdict {
        case .fresh:
            if !negative {
                insertNear(
                    entryKey, value: value, tags: tags + entry.dependencies, softExpiry: entry.softExpiry,
                    snapshot: snapshot)
            }
            metrics.hits.increment()
            return CacheResult(value: value, outcome: .hit, negative: negative, softExpiry: entry.softExpiry)
        case .stale(let reason):
            refresh?()
            metrics.stale.increment()
            return CacheResult(
                value: value, outcome: .stale(refresher.recentlyFailed(entryKey) ? .refreshFailed : reason),
                negative: negative, softExpiry: entry.softExpiry)
        case .miss:
            return nil
        }
    }

    private func insertNear(
        _ entryKey: String, value: Value, tags: [String], softExpiry: Int64, snapshot: NearCache<Value>.Snapshot?
    ) {
        guard let near, let snapshot else { return }
        near.insert(
            entryKey, value: value, cost: cost(value), tags: tags.map(CacheKeyScheme.nearTag), softExpiry: softExpiry,
            snapshot: snapshot)
        metrics.nearBytes.record(near.byteCount)
    }

    // MARK: - Filling

    /// Joins the load of this process for the same key and generations, or starts it.
    private func fill(
        _ key: CacheKey, entryKey: String, tags: [String], observed: [CacheEntry.Generation], sequence: Int64?,
        snapshot: NearCache<Value>.Snapshot?, epoch: UInt64, on eventLoop: any EventLoop, loader: @escaping Loader
    ) -> EventLoopFuture<CacheResult<Value>> {
        let flight = FlightKey(entry: entryKey, generations: observed, sequence: sequence, epoch: epoch, bypass: false)
        return flights.run(flight, on: eventLoop) {
            switch try await self.filler.fill(key, tags: tags, observed: observed, sequence: sequence, loader: loader) {
            case .filledElsewhere(let entry):
                let negative = entry.flags.contains(.negative)
                let value = self.decode(entry.payload, negative)
                if !negative {
                    self.insertNear(
                        entryKey, value: value, tags: tags + entry.dependencies, softExpiry: entry.softExpiry,
                        snapshot: snapshot)
                }
                return CacheResult(value: value, outcome: .hit, negative: negative, softExpiry: entry.softExpiry)
            case .loaded(_, let entry, let stored):
                let negative = entry.flags.contains(.negative)
                let value = self.decode(entry.payload, negative)
                if stored && !negative {
                    self.insertNear(
                        entryKey, value: value, tags: tags + entry.dependencies, softExpiry: entry.softExpiry,
                        snapshot: snapshot)
                }
                return CacheResult(
                    value: value, outcome: .miss(stored: stored), negative: negative, softExpiry: entry.softExpiry)
            }
        }
    }

    /// Redis could not be read: load directly (shared by readers since the same invalidations),
    /// store nothing.
    private func bypass(_ entryKey: String, epoch: UInt64, on eventLoop: any EventLoop, loader: @escaping Loader)
        -> EventLoopFuture<CacheResult<Value>>
    {
        flights.run(FlightKey(entry: entryKey, generations: [], epoch: epoch, bypass: true), on: eventLoop) {
            let result = try await loader()
            self.metrics.bypasses.increment()
            return self.unstored(result, outcome: .bypass)
        }
    }

    /// Queues a background refresh: it reads the generations then fills like a miss.
    @discardableResult
    private func refresh(
        _ key: CacheKey, entryKey: String, tags: [String], dependent: Bool, loader: @escaping Loader
    ) -> Refresher.Submission {
        refresher.submit(entryKey) {
            let snapshot = self.near?.snapshot()
            let epoch = self.localInvalidations.load(ordering: .acquiring)
            // One read of the entry, its generations and (for one with dependencies) the slot's
            // sequence. A fresh entry ends the refresh with no load: another reader or process
            // stored the new bytes already, or the change that evicted it here (a price range, in
            // the near-cache by its base) did not reach it in Redis.
            let generationKeys = self.generations.keys(for: tags)
            var keys = [entryKey] + generationKeys
            if dependent { keys.append(self.scheme.dependencySequence(slot: key.slot)) }
            let values = try await self.redis.mget(keys)
            guard values.count == keys.count else { throw RedisError.protocolViolation("MGET answered a wrong count") }
            let observed = TagGenerations.parse(values[1..<(1 + generationKeys.count)])
            let sequence = dependent ? TagGenerations.counter(values[keys.count - 1]) : nil
            if let entry = values[0].flatMap(CacheEntry.init(decoding:)),
                self.entryPolicy.verdict(for: entry, generations: observed, now: CacheClock.nowMilliseconds()) == .fresh
            {
                if !entry.flags.contains(.negative) {
                    self.insertNear(
                        entryKey, value: self.decode(entry.payload, false), tags: tags + entry.dependencies,
                        softExpiry: entry.softExpiry, snapshot: snapshot)
                }
                return
            }
            let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
            _ = try await self.fill(
                key, entryKey: entryKey, tags: tags, observed: observed, sequence: sequence, snapshot: snapshot,
                epoch: epoch, on: eventLoop, loader: loader
            ).get()
        }
    }

    /// The batch load of `fetchMany`: one loader call, then a conditional store per item.
    private func loadMany(
        _ items: [(key: CacheKey, tags: [String])],
        loads: [(index: Int, observed: [CacheEntry.Generation]?, stale: CacheResult<Value>?)],
        into partial: [CacheResult<Value>?], snapshot: NearCache<Value>.Snapshot?,
        loader: @Sendable ([Int]) async throws -> [Int: LoadResult]
    ) async throws -> [CacheResult<Value>] {
        var results = partial
        let loaded: [Int: LoadResult]
        do {
            loaded = try await loader(loads.map(\.index))
        } catch {
            // stale-if-error, when every item to load has a stale copy.
            guard loads.allSatisfy({ $0.stale != nil }) else { throw error }
            for load in loads {
                var stale = load.stale!
                stale.outcome = .stale(.refreshFailed)
                results[load.index] = stale
            }
            return results.map { $0! }
        }
        await withTaskGroup(of: (Int, CacheResult<Value>).self) { group in
            for load in loads {
                let item = items[load.index]
                let result = loaded[load.index] ?? .notFound(ByteBuffer())
                guard let observed = load.observed else {
                    metrics.bypasses.increment()
                    results[load.index] = unstored(result, outcome: .bypass)
                    continue
                }
                group.addTask {
                    let outcome = await self.filler.store(
                        result, key: item.key, tags: item.tags, generations: observed, lease: nil, loadMilliseconds: 0)
                    guard case .loaded(_, let entry, let stored) = outcome else {
                        return (load.index, self.unstored(result, outcome: .miss(stored: false)))
                    }
                    let negative = entry.flags.contains(.negative)
                    let value = self.decode(entry.payload, negative)
                    if stored && !negative {
                        self.insertNear(
                            self.scheme.entry(item.key), value: value, tags: item.tags, softExpiry: entry.softExpiry,
                            snapshot: snapshot)
                    }
                    return (
                        load.index,
                        CacheResult(
                            value: value, outcome: .miss(stored: stored), negative: negative,
                            softExpiry: entry.softExpiry)
                    )
                }
            }
            for await (index, result) in group { results[index] = result }
        }
        return results.map { $0! }
    }

    private func unstored(_ result: LoadResult, outcome: CacheOutcome) -> CacheResult<Value> {
        switch result {
        case .found(let bytes), .dependent(let bytes, _):
            CacheResult(value: decode(bytes, false), outcome: outcome, negative: false, softExpiry: 0)
        case .notFound(let bytes):
            CacheResult(value: decode(bytes, true), outcome: outcome, negative: true, softExpiry: 0)
        }
    }
}
