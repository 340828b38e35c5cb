import CacheLayer
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import Testing

/// A cache on the real Redis the scripts start, under a key prefix no other test uses.
struct TestCache: Sendable {
    let redis: RedisClient
    let cache: ReadThroughCache<ByteBuffer>
    let eventLoop: any EventLoop

    static let logger: Logger = {
        var logger = Logger(label: "cache-test")
        logger.logLevel = .error
        return logger
    }()

    static func make(
        url: String? = nil, prefix: String, policy: CachePolicy = CachePolicy(), nearCacheBytes: Int = 0,
        probe: (any CacheProbe)? = nil
    ) throws -> TestCache {
        var configuration = try RedisConfiguration(url: url ?? (try TestEnvironment.redisURL))
        configuration.commandTimeout = .seconds(2)  // a busy CI machine must not turn reads into bypasses
        let redis = RedisClient(configuration: configuration, logger: logger)
        // As in the gateway: invalidations go through a client of their own (its own
        // connections), so every race here also spans two connections.
        let cache = ReadThroughCache<ByteBuffer>(
            redis: redis, scheme: CacheKeyScheme(prefix: prefix), policy: policy, nearCacheBytes: nearCacheBytes,
            logger: logger, decode: { payload, _ in payload }, cost: { $0.readableBytes }, probe: probe,
            invalidationRedis: RedisClient(configuration: configuration, logger: logger))
        return TestCache(redis: redis, cache: cache, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
    }

    func fetch(_ key: CacheKey, tags: [String], loader: @escaping ReadThroughCache<ByteBuffer>.Loader) async throws
        -> CacheResult<ByteBuffer>
    {
        try await cache.fetch(key, tags: tags, on: eventLoop, loader: loader).get()
    }

    /// Runs `body` with the near-cache's invalidation subscriber connected.
    func withSubscriber<Result: Sendable>(_ body: @Sendable () async throws -> Result) async throws -> Result {
        let subscriber = cache.makeInvalidationSubscriber()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await subscriber.run() }
            defer { group.cancelAll() }
            for _ in 0..<100 where !subscriber.isConnected { try await Task.sleep(for: .milliseconds(20)) }
            try #require(subscriber.isConnected)
            try await Task.sleep(for: .milliseconds(20))  // the state callback runs right after
            return try await body()
        }
    }
}

/// Counts loader calls across tasks.
final class CallCounter: Sendable {
    private let value = Atomic<Int>(0)
    @discardableResult
    func increment() -> Int { value.add(1, ordering: .relaxed).newValue }
    var count: Int { value.load(ordering: .relaxed) }
}

/// A one-shot latch: `wait` returns once `open` was called.
actor Latch {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
