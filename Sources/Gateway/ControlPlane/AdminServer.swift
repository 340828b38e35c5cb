import CacheLayer
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Hybrid
import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The admin listener (control plane) on Hummingbird: admin API, hooks, health, readiness and
/// metrics, where routing, middleware and decoding matter more than raw speed.
public struct AdminServer: Service {
    private let application: Application<RouterResponder<BasicRequestContext>>
    private let boundPromise: EventLoopPromise<Int>

    public init(
        host: String, port: Int, tokens: [String], hookSecret: String?, catalog: HybridCatalog,
        cache: ReadThroughCache<PreparedResponse>?, invalidator: any TagInvalidator, redis: RedisClient,
        scheme: CacheKeyScheme, registry: PrometheusCollectorRegistry, warmups: WarmupJobs,
        connections: ConnectionSettings = ConnectionSettings(), writes: Backends.WritePath, logger: Logger
    ) {
        let eventLoopGroup = writes.eventLoopGroup
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ProblemMiddleware(routes: Self.routes))
        router.add(middleware: PreferredExecutorMiddleware(executor: writes.executor))
        OperationsRoutes(
            catalog: catalog, redis: redis, writeRedis: writes.redis, registry: registry, checkTimeout: .seconds(1)
        ).register(on: router)
        HookRoutes(
            catalog: catalog, cache: cache, invalidator: invalidator, signature: hookSecret.map(HookSignature.init),
            redis: redis, scheme: scheme
        )
        .register(on: router)
        let admin = router.group("admin/v1").add(middleware: BearerAuthMiddleware(tokens: tokens))
        AdminRoutes(catalog: catalog, invalidator: invalidator).register(on: admin)
        WarmupRoutes(jobs: warmups).register(on: admin)
        OutboxRoutes(deadLetters: OutboxDeadLetters(catalog: catalog)).register(on: admin)
        let promise = eventLoopGroup.next().makePromise(of: Int.self)
        boundPromise = promise
        let limiter = ConnectionLimiter(maximum: connections.maximumConnections, listener: "admin")
        application = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(responder: responder, settings: connections, limiter: limiter)
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "catalog-gateway-admin"),
            onServerRunning: { channel in promise.succeed(channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: .shared(eventLoopGroup), logger: logger)
    }

    /// Known paths and their methods, so a wrong method is `405` rather than `404`.
    public static let routes: [(pattern: [Substring], methods: [HTTPRequest.Method])] = [
        (["healthz"], [.get, .head]), (["readyz"], [.get, .head]), (["metrics"], [.get, .head]),
        (["openapi.json"], [.get, .head]),
        (["hooks", "v1", "invalidate"], [.post]),
        (["admin", "v1", "products"], [.post, .patch]), (["admin", "v1", "products", "*"], [.get, .patch, .delete]),
        (["admin", "v1", "categories"], [.post]), (["admin", "v1", "categories", "*"], [.patch]),
        (["admin", "v1", "warmup"], [.post]), (["admin", "v1", "warmup", "*"], [.get]),
        (["admin", "v1", "outbox", "dead-letters"], [.get]),
        (["admin", "v1", "outbox", "dead-letters", "*"], [.delete]),
        (["admin", "v1", "outbox", "dead-letters", "*", "retry"], [.post]),
    ]

    /// The port the admin server listens on, once it does.
    public var port: Int {
        get async throws { try await boundPromise.futureResult.get() }
    }

    public func run() async throws {
        do {
            try await application.run()
        } catch {
            boundPromise.fail(error)
            throw error
        }
    }
}

/// Runs the handlers of single-product and category writes on the write thread. Bulk updates (up to
/// 8 MiB of JSON to decode) and hooks (a purge of everything) stay on the shared pool, so they
/// cannot stall the single writes, the probes and the metrics that share that thread.
struct PreferredExecutorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let executor: EventLoopTaskExecutor

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard Self.isSingleWrite(method: request.method, path: request.uri.path) else {
            return try await next(request, context)
        }
        return try await withTaskExecutorPreference(executor) { try await next(request, context) }
    }

    static func isSingleWrite(method: HTTPRequest.Method, path: String) -> Bool {
        guard method == .post || method == .patch || method == .delete else { return false }
        let parts = path.split(separator: "/")
        guard parts.count >= 3, parts[0] == "admin", parts[1] == "v1" else { return false }
        switch (parts[2], parts.count) {
        case ("products", 3): return method == .post  // create; PATCH here is the bulk route
        case ("products", 4), ("categories", 3), ("categories", 4): return true
        default: return false
        }
    }
}
