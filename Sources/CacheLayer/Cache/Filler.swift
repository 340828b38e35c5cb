import Foundation
import NIOCore

/// Loads a missing entry and stores it, fenced so an old load can never overwrite a newer state:
///
/// 1. the lease (`SET NX PX`) makes one process per key and generations load; a process that finds
///    it taken polls for the holder's entry for up to `leaseWait`, then loads itself;
/// 2. the store is a script that writes the entry only if every tag generation still equals what
///    the reader saw before the load began (no stale set), and releases the lease;
/// 3. a loader that throws releases the lease at once; a holder that vanished loses it after
///    `leaseTTL`.
///
/// The lease is keyed by the generations too (and, for an entry with dependencies, its slot's
/// dependency sequence): a reader that saw a newer state never waits for a filler that is loading
/// for an older one (whose store will be refused anyway).
struct Filler: Sendable {
    let redis: RedisClient
    let scheme: CacheKeyScheme
    let generations: TagGenerations
    let policy: CachePolicy
    let entryPolicy: EntryPolicy
    let metrics: CacheMetrics
    let probe: (any CacheProbe)?

    enum Outcome: Sendable {
        /// This process loaded; `stored` is false when an invalidation intervened (or Redis failed).
        case loaded(LoadResult, entry: CacheEntry, stored: Bool)
        /// Another process filled the key while this one waited for its lease.
        case filledElsewhere(CacheEntry)
    }

    /// - Parameter sequence: the slot's dependency sequence read before loading, for an entry that
    ///   may have dependencies; `nil` for one that has none.
    func fill(
        _ key: CacheKey, tags: [String], observed: [CacheEntry.Generation], sequence: Int64?,
        loader: @Sendable () async throws -> LoadResult
    ) async throws -> Outcome {
        let token = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let leaseKey = scheme.lease(key, generations: observed, sequence: sequence)
        let acquired: Bool
        do {
            let reply = try await redis.send(
                RESPCommand(
                    "SET", [.string(leaseKey), .string(token), "NX", "PX", .integer(policy.leaseTTL.milliseconds)]),
                key: leaseKey
            ).get()
            acquired = reply.string == "OK"
        } catch {
            metrics.redisErrors.increment()
            acquired = true  // Redis trouble: load; the store below will likely fail too, harmlessly.
        }
        if !acquired {
            metrics.leaseWaits.increment()
            if let entry = await waitForHolder(key, tags: tags, observed: observed, sequence: sequence) {
                return .filledElsewhere(entry)
            }
        }
        let started = ContinuousClock.now
        let result: LoadResult
        do {
            result = try await loader()
        } catch {
            if acquired { await release(leaseKey, token: token) }
            throw error
        }
        let elapsed = (ContinuousClock.now - started).milliseconds
        return await store(
            result, key: key, tags: tags, generations: observed, sequence: sequence,
            lease: acquired ? (leaseKey, token) : nil, loadMilliseconds: UInt32(clamping: elapsed))
    }

    /// Stores a loaded value unless an invalidation intervened since `generations` (and, for one
    /// with dependencies, the slot's dependency `sequence`) were read.
    func store(
        _ result: LoadResult, key: CacheKey, tags: [String], generations: [CacheEntry.Generation],
        sequence: Int64? = nil, lease: (key: String, token: String)?, loadMilliseconds: UInt32
    ) async -> Outcome {
        let now = CacheClock.nowMilliseconds()
        let (payload, negative, dependencies) =
            switch result {
            case .found(let bytes): (bytes, false, [String]())
            case .dependent(let bytes, let dependencies): (bytes, false, dependencies)
            case .notFound(let bytes): (bytes, true, [String]())
            }
        let softTTL = negative ? policy.negativeTTL : policy.softTTL
        let hardTTL = negative ? policy.negativeTTL : policy.hardTTL
        let entry = CacheEntry(
            flags: negative ? .negative : [], storedAt: now, softExpiry: now + softTTL.milliseconds,
            loadMilliseconds: loadMilliseconds, generations: generations, dependencies: dependencies, payload: payload)
        let generationKeys = self.generations.keys(for: tags)
        var expected: [RESPArgument] = [.integer(Int64(generationKeys.count))]
        expected.reserveCapacity(generations.count * 2 + 2 + dependencies.count)
        for generation in generations {
            expected.append(.integer(generation.hard))
            expected.append(.integer(generation.soft))
        }
        var dependencyKeys: [String] = []
        if !dependencies.isEmpty, let sequence {
            dependencyKeys = [scheme.dependencySequence(slot: key.slot), scheme.dependencyChanges(slot: key.slot)]
            expected.append(.integer(sequence))
            for dependency in dependencies {
                let (first, second) = scheme.dependencyKeys(dependency)
                dependencyKeys += [first, second]
                expected.append(.string(dependency))
            }
        }
        let entryKey = scheme.entry(key)
        var stored = false
        do {
            if let probe { try await probe.before(.store, key: entryKey) }
            guard let bytes = entry.encoded() else { throw CacheEntry.TooManyTags() }
            // Dependencies must live in the entry's slot and be fenced by a sequence read before
            // the load; anything else could be stored over a change it never saw.
            guard
                dependencies.isEmpty
                    || (sequence != nil && dependencies.allSatisfy { CacheKeyScheme.slot(of: $0) == key.slot })
            else { throw CacheEntry.UnfencedDependencies() }
            let reply = try await redis.evalScript(
                CacheScripts.storeIfUnchanged,
                keys: [entryKey, lease?.key ?? scheme.lease(key, generations: generations, sequence: sequence)]
                    + generationKeys + dependencyKeys,
                arguments: [.bytes(bytes), .integer(hardTTL.milliseconds), .string(lease?.token ?? "")]
                    + expected
            ).get()
            stored = reply.integer == 1
        } catch {
            metrics.redisErrors.increment()
        }
        if let probe { await probe.after(.store, key: entryKey) }
        metrics.misses.increment()
        if stored { metrics.fills.increment() } else { metrics.fillsRefused.increment() }
        return .loaded(result, entry: entry, stored: stored)
    }

    /// Polls for the entry the lease holder is loading, until `leaseWait` runs out, the generations
    /// move on (the holder's store will then be refused), or the lease is gone with no entry (the
    /// holder failed).
    private func waitForHolder(
        _ key: CacheKey, tags: [String], observed: [CacheEntry.Generation], sequence: Int64?
    ) async -> CacheEntry? {
        let deadline = ContinuousClock.now + policy.leaseWait
        let generationKeys = generations.keys(for: tags)
        var keys = [scheme.entry(key), scheme.lease(key, generations: observed, sequence: sequence)] + generationKeys
        if sequence != nil { keys.append(scheme.dependencySequence(slot: key.slot)) }
        var delay = 10
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(delay))
            delay = min(delay * 2, 100)
            guard let values = try? await redis.mget(keys), values.count == keys.count else { return nil }
            let current = TagGenerations.parse(values[2..<(2 + generationKeys.count)])
            guard current == observed else { return nil }
            if let sequence, TagGenerations.counter(values[keys.count - 1]) != sequence { return nil }
            let entry = values[0].flatMap(CacheEntry.init(decoding:))
            if let entry,
                entryPolicy.verdict(for: entry, generations: current, now: CacheClock.nowMilliseconds()) == .fresh
            {
                metrics.hits.increment()
                return entry
            }
            if values[1] == nil { return nil }
        }
        return nil
    }

    private func release(_ leaseKey: String, token: String) async {
        do {
            _ = try await redis.evalScript(CacheScripts.releaseLease, keys: [leaseKey], arguments: [.string(token)])
                .get()
        } catch {
            metrics.redisErrors.increment()  // it lapses after leaseTTL
        }
    }
}

/// The cache's wall clock: entries carry absolute times so every process reads them alike.
enum CacheClock {
    static func nowMilliseconds() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000)
    }
}
