import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A read-through cache of opaque bytes in Redis, with a near-cache of decoded values in front.
///
/// Guarantees (see `docs/cache.md`):
/// - one filler: concurrent misses of a key run the loader once per process (single-flight) and,
///   across processes, once per key while the fill lease holds (a waiter that times out loads for
///   itself);
/// - no stale set: a fill stores only if its tags' generations are unchanged since it read them
///   before loading (checked atomically in Redis), and enters the near-cache only if no
///   invalidation of its tags arrived meanwhile;
/// - invalidation by tag: hard makes entries unreachable at once, soft serves them stale while one
///   refresh runs; no key is scanned;
/// - stale-while-revalidate past the soft TTL, stale-if-error when that refresh fails;
/// - Redis down: loads go straight to the loader, never waiting on a dead connection.
public final class ReadThroughCache<Value: Sendable>: Sendable {
    public typealias Decode = @Sendable (_ payload: ByteBuffer, _ negative: Bool) -> Value
    public typealias Loader = @Sendable () async throws -> LoadResult

    public let redis: RedisClient
    public let scheme: CacheKeyScheme
    public let policy: CachePolicy
    public let near: NearCache<Value>?
    private let decode: Decode
    private let cost: @Sendable (Value) -> Int
    private let logger: Logger
    private let metrics = CacheMetrics()
    private let flights = Mutex<[String: EventLoopFuture<CacheResult<Value>>]>([:])
    private let refreshing = Mutex<Set<String>>([])
    private let failedRefreshes = Mutex<[String: Int64]>([:])
    private let probe: (any CacheProbe)?

    /// - Parameters:
    ///   - nearCacheBytes: the near-cache's budget; 0 turns it off.
    ///   - decode: turns stored payload bytes into the value served (done once per fill or Redis hit).
    ///   - cost: the bytes a value holds, for the near-cache budget.
    public init(
        redis: RedisClient, scheme: CacheKeyScheme = CacheKeyScheme(), policy: CachePolicy = CachePolicy(),
        nearCacheBytes: Int = 64 << 20, logger: Logger, decode: @escaping Decode,
        cost: @escaping @Sendable (Value) -> Int, probe: (any CacheProbe)? = nil
    ) {
        self.probe = probe
        self.redis = redis
        self.scheme = scheme
        self.policy = policy
        self.near = nearCacheBytes > 0 ? NearCache(capacityBytes: nearCacheBytes, ttl: policy.nearCacheTTL) : nil
        self.decode = decode
        self.cost = cost
        self.logger = logger
    }

    /// The subscriber that keeps the near-cache coherent: add it to the service group. Until it
    /// has subscribed, and whenever it loses the connection, the near-cache is off and empty.
    public func makeInvalidationSubscriber(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton)
        -> RedisSubscriber
    {
        RedisSubscriber(
            configuration: redis.pool.configuration, channel: scheme.invalidationChannel, group: group, logger: logger,
            onMessage: { [near] message in
                guard let near, let bar = message.firstIndex(of: "|") else { return }
                near.invalidate(tags: message[message.index(after: bar)...].split(separator: ",").map(String.init))
            },
            onState: { [near, logger] connected in
                near?.setEnabled(connected)
                logger.info(connected ? "near-cache on (invalidations subscribed)" : "near-cache off and flushed")
            })
    }

    /// The near-cache's fresh value for `key`: the data plane's synchronous hit path.
    public func nearValue(_ key: CacheKey) -> Value? {
        guard let near, let (value, softExpiry) = near.lookup(scheme.entry(key)), softExpiry > Self.nowMilliseconds()
        else {
            return nil
        }
        metrics.nearHits.increment()
        return value
    }

    /// Returns the value for `key`, loading and storing it on a miss.
    ///
    /// - Parameters:
    ///   - tags: what the value was built from; invalidating any of them reaches this entry. The
    ///     same key must always be fetched with the same tags.
    ///   - eventLoop: where the future completes (a Redis hit never leaves it).
    ///   - loader: runs on a miss, at most once per process at a time for this key.
    public func fetch(
        _ key: CacheKey, tags: [String], on eventLoop: any EventLoop, loader: @escaping Loader
    ) -> EventLoopFuture<CacheResult<Value>> {
        let entryKey = scheme.entry(key)
        if let near, let (value, softExpiry) = near.lookup(entryKey), softExpiry > Self.nowMilliseconds() {
            metrics.nearHits.increment()
            return eventLoop.makeSucceededFuture(
                CacheResult(value: value, outcome: .nearHit, negative: false, softExpiry: softExpiry))
        }
        let snapshot = near?.snapshot(tags: tags)
        let generationKeys = self.generationKeys(tags)
        let probe = self.probe
        let before: EventLoopFuture<Void> =
            probe.map { probe in eventLoop.makeFutureWithTask { try await probe.before(.read, key: entryKey) } }
            ?? eventLoop.makeSucceededVoidFuture()
        return before.flatMap { self.redis.mget([entryKey] + generationKeys, on: eventLoop) }
            .flatMap { values in
                guard let probe else { return eventLoop.makeSucceededFuture(values) }
                return eventLoop.makeFutureWithTask { await probe.after(.read, key: entryKey) }.map { values }
            }
            .map { Optional($0) }
            .flatMapError { [metrics] _ in
                metrics.redisErrors.increment()
                return eventLoop.makeSucceededFuture(nil)
            }
            .flatMap { values in
                guard let values else { return self.bypass(entryKey, on: eventLoop, loader: loader) }
                let generations = Self.generations(values.dropFirst())
                if let result = self.evaluate(
                    values[0], generations: generations, key: key, tags: tags, snapshot: snapshot, loader: loader)
                {
                    self.metrics.record(result.outcome)
                    return eventLoop.makeSucceededFuture(result)
                }
                return self.fill(
                    key, tags: tags, generations: generations, snapshot: snapshot, on: eventLoop, loader: loader)
            }
    }

    /// Fetches many keys with one MGET and one loader call for all the misses.
    ///
    /// - Parameter loader: called once with the positions of the missing items; returns what it
    ///   found for each (a position it leaves out is treated as not found, with an empty payload).
    public func fetchMany(
        _ items: [(key: CacheKey, tags: [String])], on eventLoop: any EventLoop,
        loader: @escaping @Sendable ([Int]) async throws -> [Int: LoadResult]
    ) -> EventLoopFuture<[CacheResult<Value>]> {
        var results = [CacheResult<Value>?](repeating: nil, count: items.count)
        var pending: [Int] = []
        let now = Self.nowMilliseconds()
        for (index, item) in items.enumerated() {
            if let near, let (value, softExpiry) = near.lookup(scheme.entry(item.key)), softExpiry > now {
                metrics.nearHits.increment()
                results[index] = CacheResult(value: value, outcome: .nearHit, negative: false, softExpiry: softExpiry)
            } else {
                pending.append(index)
            }
        }
        guard !pending.isEmpty else { return eventLoop.makeSucceededFuture(results.map { $0! }) }
        let snapshots = pending.map { near?.snapshot(tags: items[$0].tags) }
        var keys: [String] = pending.map { scheme.entry(items[$0].key) }
        var generationSlots: [String: Int] = [:]
        for index in pending {
            for key in generationKeys(items[index].tags) where generationSlots[key] == nil {
                generationSlots[key] = keys.count
                keys.append(key)
            }
        }
        let readKeys = keys
        let slots = generationSlots
        // While Redis is down the pool fails the MGET at once (its reconnect backoff), so no check
        // is needed up front.
        let read: EventLoopFuture<[ByteBuffer?]?> = redis.mget(readKeys, on: eventLoop).map { Optional($0) }
            .flatMapError { [metrics] _ in
                metrics.redisErrors.increment()
                return eventLoop.makeSucceededFuture(nil)
            }
        let frozen = results
        return read.flatMap { values in
            var results = frozen
            var misses: [(index: Int, generations: [CacheEntry.Generation]?, snapshot: NearCache<Value>.Snapshot?)] = []
            for (position, index) in pending.enumerated() {
                let item = items[index]
                guard let values else {
                    misses.append((index, nil, nil))
                    continue
                }
                let generations = Self.generations(
                    self.generationKeys(item.tags).map { values[slots[$0]!] }[...])
                if let result = self.evaluate(
                    values[position], generations: generations, key: item.key, tags: item.tags,
                    snapshot: snapshots[position], loader: nil)
                {
                    self.metrics.record(result.outcome)
                    results[index] = result
                } else {
                    misses.append((index, generations, snapshots[position]))
                }
            }
            guard !misses.isEmpty else { return eventLoop.makeSucceededFuture(results.map { $0! }) }
            let missing = misses
            let partial = results
            let promise = eventLoop.makePromise(of: [CacheResult<Value>].self)
            promise.completeWithTask {
                let loaded = try await loader(missing.map(\.index))
                var results = partial
                for miss in missing {
                    let item = items[miss.index]
                    let result = loaded[miss.index] ?? .notFound(ByteBuffer())
                    guard let generations = miss.generations else {
                        self.metrics.bypasses.increment()
                        results[miss.index] = self.unstored(result, outcome: .bypass)
                        continue
                    }
                    results[miss.index] = await self.store(
                        result, key: item.key, tags: item.tags, generations: generations, leaseToken: "",
                        snapshot: miss.snapshot, loadMilliseconds: 0)
                }
                return results.map { $0! }
            }
            return promise.futureResult
        }
    }

    /// Invalidates every entry carrying one of `tags`.
    ///
    /// Hard: once this returns, no fetch serves the old bytes from Redis, and this process's
    /// near-cache has dropped them; other processes drop them when the message reaches them.
    /// Soft: old entries are served stale while one refresh each runs.
    /// - Throws: `RedisError` when Redis could not be reached (the caller retries later).
    public func invalidate(tags: [String], mode: InvalidationMode = .hard) async throws {
        guard !tags.isEmpty else { return }
        near?.invalidate(tags: tags)
        try await probe?.before(.invalidate, key: tags.joined(separator: ","))
        let keys = tags.map { mode == .hard ? scheme.hardGeneration($0) : scheme.softGeneration($0) }
        let message = "\(mode == .hard ? "h" : "s")|\(tags.joined(separator: ","))"
        _ = try await redis.evalScript(
            CacheScripts.invalidate, keys: keys, arguments: [.string(scheme.invalidationChannel), .string(message)]
        ).get()
        await probe?.after(.invalidate, key: tags.joined(separator: ","))
        (mode == .hard ? metrics.hardInvalidations : metrics.softInvalidations).increment(by: tags.count)
    }

    public enum InvalidationMode: String, Sendable, Hashable {
        case hard
        case soft
    }

    // MARK: - Reading

    /// The served result for a stored entry, or `nil` when it must be loaded (absent, or stored
    /// under an older hard generation).
    private func evaluate(
        _ stored: ByteBuffer?, generations: [CacheEntry.Generation], key: CacheKey, tags: [String],
        snapshot: NearCache<Value>.Snapshot?, loader: Loader?
    ) -> CacheResult<Value>? {
        guard let stored, let entry = CacheEntry(decoding: stored), entry.generations.count == generations.count,
            zip(entry.generations, generations).allSatisfy({ $0.hard == $1.hard })
        else { return nil }
        let negative = entry.flags.contains(.negative)
        let value = decode(entry.payload, negative)
        let now = Self.nowMilliseconds()
        let softCurrent = zip(entry.generations, generations).allSatisfy { $0.soft == $1.soft }
        let fresh = now < entry.softExpiry && !refreshesEarly(entry, now: now)
        if softCurrent && fresh {
            if let near, let snapshot {
                near.insert(
                    scheme.entry(key), value: value, cost: cost(value), tags: tags, softExpiry: entry.softExpiry,
                    snapshot: snapshot)
                metrics.nearBytes.record(near.byteCount)
            }
            return CacheResult(value: value, outcome: .hit, negative: negative, softExpiry: entry.softExpiry)
        }
        let entryKey = scheme.entry(key)
        if let loader { refreshInBackground(key, tags: tags, loader: loader) }
        let failedAt = failedRefreshes.withLock { $0[entryKey] }
        let reason: CacheOutcome.StaleReason =
            failedAt.map { now - $0 < policy.softTTL.milliseconds } == true
            ? .refreshFailed : (softCurrent ? .expired : .invalidated)
        return CacheResult(value: value, outcome: .stale(reason), negative: negative, softExpiry: entry.softExpiry)
    }

    /// XFetch: refresh early with a probability that grows as expiry nears and with the load time.
    private func refreshesEarly(_ entry: CacheEntry, now: Int64) -> Bool {
        guard policy.earlyRefreshBeta > 0, entry.loadMilliseconds > 0 else { return false }
        let gap =
            Double(entry.loadMilliseconds) * policy.earlyRefreshBeta * -log(Double.random(in: Double.ulpOfOne..<1))
        return Double(now) + gap >= Double(entry.softExpiry)
    }

    private func generationKeys(_ tags: [String]) -> [String] {
        var keys: [String] = []
        keys.reserveCapacity(tags.count * 2)
        for tag in tags {
            keys.append(scheme.hardGeneration(tag))
            keys.append(scheme.softGeneration(tag))
        }
        return keys
    }

    private static func generations(_ values: ArraySlice<ByteBuffer?>) -> [CacheEntry.Generation] {
        var result: [CacheEntry.Generation] = []
        var index = values.startIndex
        while index + 1 < values.endIndex {
            let hard = values[index].flatMap { Int64(String(buffer: $0)) } ?? 0
            let soft = values[index + 1].flatMap { Int64(String(buffer: $0)) } ?? 0
            result.append(CacheEntry.Generation(hard: hard, soft: soft))
            index += 2
        }
        return result
    }

    static func nowMilliseconds() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000)
    }

    // MARK: - Filling

    /// Joins the fill of `key` running in this process, or starts it.
    private func fill(
        _ key: CacheKey, tags: [String], generations: [CacheEntry.Generation], snapshot: NearCache<Value>.Snapshot?,
        on eventLoop: any EventLoop, loader: @escaping Loader
    ) -> EventLoopFuture<CacheResult<Value>> {
        let entryKey = scheme.entry(key)
        let (future, leader): (EventLoopFuture<CacheResult<Value>>, EventLoopPromise<CacheResult<Value>>?) =
            flights.withLock { flights in
                if let running = flights[entryKey] { return (running, nil) }
                let promise = eventLoop.makePromise(of: CacheResult<Value>.self)
                flights[entryKey] = promise.futureResult
                return (promise.futureResult, promise)
            }
        if let leader {
            leader.completeWithTask {
                try await self.fillAsLeader(
                    key, tags: tags, generations: generations, snapshot: snapshot, loader: loader)
            }
            leader.futureResult.whenComplete { _ in
                _ = self.flights.withLock { $0.removeValue(forKey: entryKey) }
            }
        }
        return future.hop(to: eventLoop)
    }

    private func fillAsLeader(
        _ key: CacheKey, tags: [String], generations: [CacheEntry.Generation], snapshot: NearCache<Value>.Snapshot?,
        loader: Loader
    ) async throws -> CacheResult<Value> {
        let token = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let leaseKey = scheme.lease(key)
        let acquired: Bool
        do {
            let reply = try await redis.send(
                RESPCommand(
                    "SET", [.string(leaseKey), .string(token), "NX", "PX", .integer(policy.leaseTTL.milliseconds)])
            ).get()
            acquired = reply.string == "OK"
        } catch {
            metrics.redisErrors.increment()
            acquired = true  // Redis trouble: load; the store below will likely fail too, harmlessly.
        }
        if !acquired {
            metrics.leaseWaits.increment()
            if let filled = await waitForOtherFiller(key, tags: tags, snapshot: snapshot) { return filled }
        }
        let started = ContinuousClock.now
        let result = try await loader()
        let elapsed = (ContinuousClock.now - started).milliseconds
        return await store(
            result, key: key, tags: tags, generations: generations, leaseToken: acquired ? token : "",
            snapshot: snapshot,
            loadMilliseconds: UInt32(clamping: elapsed))
    }

    /// Polls for the entry another process is filling, until the lease wait runs out.
    private func waitForOtherFiller(
        _ key: CacheKey, tags: [String], snapshot: NearCache<Value>.Snapshot?
    ) async -> CacheResult<Value>? {
        let deadline = ContinuousClock.now + policy.leaseWait
        let keys = [scheme.entry(key)] + generationKeys(tags)
        var delay = 10
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(delay))
            delay = min(delay * 2, 100)
            guard let values = try? await redis.mget(keys) else { return nil }
            if let result = evaluate(
                values[0], generations: Self.generations(values.dropFirst()), key: key, tags: tags, snapshot: snapshot,
                loader: nil), case .hit = result.outcome
            {
                metrics.hits.increment()
                return result
            }
        }
        return nil
    }

    /// Stores a loaded value unless an invalidation intervened, and builds the result.
    private func store(
        _ result: LoadResult, key: CacheKey, tags: [String], generations: [CacheEntry.Generation], leaseToken: String,
        snapshot: NearCache<Value>.Snapshot?, loadMilliseconds: UInt32
    ) async -> CacheResult<Value> {
        let now = Self.nowMilliseconds()
        let (payload, negative) =
            switch result {
            case .found(let bytes): (bytes, false)
            case .notFound(let bytes): (bytes, true)
            }
        let softTTL = negative ? policy.negativeTTL : policy.softTTL
        let hardTTL = negative ? policy.negativeTTL : policy.hardTTL
        let entry = CacheEntry(
            flags: negative ? .negative : [], storedAt: now, softExpiry: now + softTTL.milliseconds,
            loadMilliseconds: loadMilliseconds, generations: generations, payload: payload)
        var expected: [RESPArgument] = []
        for generation in generations {
            expected.append(.string(String(generation.hard)))
            expected.append(.string(String(generation.soft)))
        }
        var stored = false
        do {
            try await probe?.before(.store, key: scheme.entry(key))
            let reply = try await redis.evalScript(
                CacheScripts.storeIfUnchanged, keys: [scheme.entry(key), scheme.lease(key)] + generationKeys(tags),
                arguments: [.bytes(entry.encoded()), .integer(hardTTL.milliseconds), .string(leaseToken)] + expected
            ).get()
            stored = reply.integer == 1
        } catch {
            metrics.redisErrors.increment()
        }
        await probe?.after(.store, key: scheme.entry(key))
        metrics.misses.increment()
        if stored { metrics.fills.increment() } else { metrics.fillsRefused.increment() }
        let value = decode(payload, negative)
        if stored, !negative, let near, let snapshot {
            near.insert(
                scheme.entry(key), value: value, cost: cost(value), tags: tags, softExpiry: entry.softExpiry,
                snapshot: snapshot)
            metrics.nearBytes.record(near.byteCount)
        }
        return CacheResult(
            value: value, outcome: .miss(stored: stored), negative: negative, softExpiry: entry.softExpiry)
    }

    private func unstored(_ result: LoadResult, outcome: CacheOutcome) -> CacheResult<Value> {
        switch result {
        case .found(let bytes):
            CacheResult(value: decode(bytes, false), outcome: outcome, negative: false, softExpiry: 0)
        case .notFound(let bytes):
            CacheResult(value: decode(bytes, true), outcome: outcome, negative: true, softExpiry: 0)
        }
    }

    /// Redis is unavailable: load directly (still one load per key in this process), store nothing.
    private func bypass(_ entryKey: String, on eventLoop: any EventLoop, loader: @escaping Loader) -> EventLoopFuture<
        CacheResult<Value>
    > {
        let flightKey = "bypass:" + entryKey
        let (future, leader): (EventLoopFuture<CacheResult<Value>>, EventLoopPromise<CacheResult<Value>>?) =
            flights.withLock { flights in
                if let running = flights[flightKey] { return (running, nil) }
                let promise = eventLoop.makePromise(of: CacheResult<Value>.self)
                flights[flightKey] = promise.futureResult
                return (promise.futureResult, promise)
            }
        if let leader {
            leader.completeWithTask {
                let result = try await loader()
                self.metrics.bypasses.increment()
                return self.unstored(result, outcome: .bypass)
            }
            leader.futureResult.whenComplete { _ in
                _ = self.flights.withLock { $0.removeValue(forKey: flightKey) }
            }
        }
        return future.hop(to: eventLoop)
    }

    /// One background refresh per key: reads the current generations, then fills like a miss.
    private func refreshInBackground(_ key: CacheKey, tags: [String], loader: @escaping Loader) {
        let entryKey = scheme.entry(key)
        guard refreshing.withLock({ $0.insert(entryKey).inserted }) else { return }
        metrics.refreshes.increment()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        Task {
            defer { _ = refreshing.withLock { $0.remove(entryKey) } }
            do {
                let values = try await redis.mget(generationKeys(tags))
                let snapshot = near?.snapshot(tags: tags)
                _ = try await fill(
                    key, tags: tags, generations: Self.generations(values[...]), snapshot: snapshot, on: eventLoop,
                    loader: loader
                ).get()
                _ = failedRefreshes.withLock { $0.removeValue(forKey: entryKey) }
            } catch {
                metrics.refreshFailures.increment()
                failedRefreshes.withLock { $0[entryKey] = Self.nowMilliseconds() }
                logger.warning("refresh failed; serving stale", metadata: ["key": "\(entryKey)", "error": "\(error)"])
            }
        }
    }
}
