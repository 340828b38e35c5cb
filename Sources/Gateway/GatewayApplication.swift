import CacheLayer
import Hybrid
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Everything one gateway process runs, wired from the configuration: the database and Redis
/// clients, the cache and its invalidation subscriber, the outbox relay and the listeners. Each
/// long-lived piece is a `Service`, started and stopped in order by one `ServiceGroup`.
public struct GatewayApplication: Sendable {
    public let configuration: GatewayConfiguration
    public let backends: Backends
    public let redis: RedisClient
    /// The Redis client of the write path (invalidations), on the writers' own thread.
    public let writeRedis: RedisClient
    public let cache: ReadThroughCache<PreparedResponse>?
    public let invalidator: any TagInvalidator
    public let storefront: StorefrontServer
    /// The TLS storefront listener, when a certificate is configured.
    public let secureStorefront: StorefrontServer?
    public let relay: OutboxRelay
    public let admin: AdminServer
    public let registry: PrometheusCollectorRegistry
    public let responder: CatalogResponder
    let subscriber: RedisSubscriber?
    let logger: Logger

    /// - Parameter registry: where metrics are collected for `/metrics`; the process's metrics
    ///   factory should write to it (`gateway serve` bootstraps it).
    public init(
        configuration: GatewayConfiguration, logger: Logger,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) throws {
        self.registry = registry
        self.configuration = configuration
        self.logger = logger
        backends = try Backends(configuration: configuration, logger: logger)
        redis = RedisClient(configuration: try configuration.redisConfiguration(), logger: logger)
        writeRedis = RedisClient(
            configuration: try configuration.redisConfiguration(), group: backends.writeEventLoopGroup, logger: logger)
        let policy = configuration.cachePolicy
        let cacheControl = configuration.cacheControl
        switch configuration.cacheMode {
        case .off:
            cache = nil
        case .redis, .nearAndRedis:
            cache = CatalogResponder.makeCache(
                redis: redis, scheme: configuration.cacheKeyScheme, policy: policy,
                nearCacheBytes: configuration.cacheMode == .nearAndRedis ? configuration.nearCacheBytes : 0,
                cacheControl: cacheControl, logger: logger, invalidationRedis: writeRedis)
        }
        subscriber = configuration.cacheMode == .nearAndRedis ? cache?.makeInvalidationSubscriber() : nil
        // Invalidations reach Redis even when this process serves without a cache: other processes
        // may cache.
        let deliver =
            cache.map { CacheTagInvalidator(cache: $0) as any TagInvalidator }
            ?? CacheTagInvalidator.withoutCache(redis: writeRedis, configuration: configuration)
        if configuration.faultInvalidationDelay > .zero {
            logger.critical(
                "GATEWAY_FAULT_INVALIDATION_DELAY_MS is set: writes are acknowledged before their invalidation; this gateway serves stale data on purpose (a test of the consistency checker)"
            )
            invalidator = DelayedInvalidator(inner: deliver, delay: configuration.faultInvalidationDelay)
        } else {
            invalidator = deliver
        }
        let renderer = StorefrontRenderer(catalog: backends.catalog, mode: configuration.loadingMode)
        let responder = CatalogResponder(renderer: renderer, cache: cache, cacheControl: cacheControl, logger: logger)
        self.responder = responder
        cache?.setRefillSource { key in responder.refill(key) }
        storefront = StorefrontServer(
            host: configuration.httpHost, port: configuration.httpPort, responder: responder, logger: logger,
            settings: configuration.connections)
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            let context: NIOSSLContext
            do {
                context = try StorefrontServer.tlsContext(certificatePath: certificate, keyPath: key)
            } catch {
                throw ConfigurationError(
                    setting: "GATEWAY_TLS_CERT", message: "could not be loaded with its key: \(error)")
            }
            secureStorefront = StorefrontServer(
                host: configuration.httpHost, port: configuration.tlsPort, responder: responder, logger: logger,
                tls: context, settings: configuration.connections)
        } else {
            secureStorefront = nil
        }
        relay = OutboxRelay(
            catalog: backends.writes, invalidator: invalidator, maxAttempts: configuration.outboxMaxAttempts)
        admin = AdminServer(
            host: configuration.adminHost, port: configuration.adminPort, tokens: configuration.adminTokens,
            hookSecret: configuration.hookSecret, catalog: backends.writes, cache: cache, invalidator: invalidator,
            redis: redis, scheme: configuration.cacheKeyScheme,
            registry: registry, warmups: WarmupJobs(responder: responder, catalog: backends.catalog),
            connections: configuration.connections, writes: backends.writePath(redis: writeRedis), logger: logger)
    }

    /// The services in start order; they stop in reverse.
    public var services: [any Service] {
        var services: [any Service] = [backends.postgres, backends.writePostgres, redis, writeRedis]
        if let readReplica = backends.readReplica { services.append(readReplica) }
        if let subscriber { services.append(subscriber) }
        if let cache { services.append(cache.refresher) }
        services.append(relay)
        services.append(storefront)
        if let secureStorefront { services.append(secureStorefront) }
        services.append(admin)
        services.append(MemoryTrimmer(interval: .seconds(10)))
        return services
    }

    /// Runs until one of `signals` (or cancellation), then shuts down gracefully.
    public func run(gracefulShutdownSignals signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        try await run(makeServiceGroup(gracefulShutdownSignals: signals))
    }

    /// The group of every service, stopped in reverse start order on graceful shutdown: the
    /// listeners first, the database clients last.
    public func makeServiceGroup(gracefulShutdownSignals signals: [UnixSignal] = [.sigterm, .sigint]) -> ServiceGroup {
        ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: signals,
                cancellationSignals: [], logger: logger))
    }

    /// Runs `group` (from `makeServiceGroup`) until it stops, then closes the MongoDB pool.
    public func run(_ group: ServiceGroup) async throws {
        do {
            try await group.run()
        } catch {
            try? await backends.shutdown()
            throw error
        }
        try await backends.shutdown()
    }
}
