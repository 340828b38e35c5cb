import CacheLayer
import Hybrid
import Logging
import NIOCore
import NIOHTTP1

/// Answers storefront routes through the read-through cache: a near-cache hit synchronously on the
/// event loop, a Redis hit from a future on the same loop, a miss through the renderer.
public struct CatalogResponder: StorefrontResponder {
    let renderer: StorefrontRenderer
    let cache: ReadThroughCache<PreparedResponse>?
    let cacheControl: String
    let logger: Logger

    /// - Parameter cache: `nil` serves every request from the databases (the benchmark's no-cache rows).
    public init(
        renderer: StorefrontRenderer, cache: ReadThroughCache<PreparedResponse>?, cacheControl: String, logger: Logger
    ) {
        self.renderer = renderer
        self.cache = cache
        self.cacheControl = cacheControl
        self.logger = logger
    }

    /// The cache that stores `PreparedResponse`s for this responder.
    public static func makeCache(
        redis: RedisClient, scheme: CacheKeyScheme, policy: CachePolicy, nearCacheBytes: Int, cacheControl: String,
        logger: Logger, invalidationRedis: RedisClient? = nil
    ) -> ReadThroughCache<PreparedResponse> {
        ReadThroughCache<PreparedResponse>(
            redis: redis, scheme: scheme, policy: policy, nearCacheBytes: nearCacheBytes, logger: logger,
            decode: {
                [negativeCacheControl = "public, max-age=\(policy.negativeTTL.components.seconds)"] payload, negative in
                // Without a near-cache a decoded entry answers one request: no near-hit headers.
                PreparedResponse(
                    payload: payload, cacheControl: negative ? negativeCacheControl : cacheControl,
                    forNearCache: nearCacheBytes > 0)
                    ?? PreparedResponse(
                        status: .internalServerError, body: [], surrogateKey: "", cacheControl: "no-store")
            },
            cost: { $0.cost }, invalidationRedis: invalidationRedis)
    }

    public static func cacheControl(softTTL: Duration, hardTTL: Duration) -> String {
        "public, max-age=\(softTTL.components.seconds), stale-while-revalidate=\(hardTTL.components.seconds - softTTL.components.seconds)"
    }

    public func answer(_ request: StorefrontRequest, on eventLoop: any EventLoop) -> StorefrontAnswer {
        let route = request.route
        guard let cache else {
            let promise = eventLoop.makePromise(of: StorefrontResponse.self)
            promise.completeWithTask {
                do {
                    return try await self.load(route).response(
                        cacheStatus: CacheStatus.disabled, label: "off", gzip: request.acceptsGzip)
                } catch {
                    return self.problemResponse(for: error, route: route, requestID: request.requestID)
                }
            }
            return .later(promise.futureResult)
        }
        if case .products(let ids) = route {
            return .later(multiGet(ids, cache: cache, on: eventLoop, requestID: request.requestID))
        }
        let (key, tags) = Self.cacheKey(for: route)
        if let prepared = cache.nearValue(key) {
            return .now(prepared.nearHitResponse(gzip: request.acceptsGzip))
        }
        let future = cache.fetch(key, tags: tags, dependent: route.isListing, on: eventLoop) {
            try await self.loadResult(route)
        }
        return .later(
            future.map { result in
                result.value.response(
                    cacheStatus: CacheStatus.value(for: result.outcome), label: result.outcome.label,
                    gzip: request.acceptsGzip)
            }.recover { error in
                self.problemResponse(for: error, route: route, requestID: request.requestID)
            })
    }

    /// Where a route's response is cached and what invalidates it.
    static func cacheKey(for route: StorefrontRoute) -> (CacheKey, [String]) {
        switch route {
        case .categories:
            return (CacheKey(slot: "categories", name: "list"), [CatalogTag.categories.description])
        case .categoryProducts(let id, let request):
            // Every page reads its category's membership. What the items show is a dependency of
            // each page (`category:C#product:P`), and so is, for a price-sorted page, the range of
            // prices it shows (`category:C/price@LOW..HIGH`): all in the category's slot, so a read
            // stays one single-slot MGET.
            let tag = CatalogTag.category(id).description
            let key = CacheKey(slot: tag, name: "\(request.sort.rawValue):\(request.perPage):\(request.page)")
            return (key, [tag])
        case .product(let id):
            let tag = CatalogTag.product(id).description
            return (CacheKey(slot: tag, name: "detail"), [tag])
        case .products(let ids):
            let tags = ids.map { CatalogTag.product($0).description }
            return (CacheKey(slot: "products", name: ids.map(String.init).joined(separator: ",")), tags)
        }
    }

    /// The route a cache key stands for (the inverse of `cacheKey(for:)`), if it is one.
    static func route(for key: CacheKey) -> StorefrontRoute? {
        if key.slot == "categories" && key.name == "list" { return .categories }
        if key.slot.hasPrefix("product:"), key.name == "detail", let id = Int64(key.slot.dropFirst(8)) {
            return .product(id: id)
        }
        guard key.slot.hasPrefix("category:"), let category = Int64(key.slot.dropFirst(9)) else { return nil }
        let parts = key.name.split(separator: ":")
        guard parts.count == 3, let sort = ListingSort(rawValue: String(parts[0])), let perPage = Int(parts[1]),
            let page = Int(parts[2]), let request = try? PageRequest(page: page, perPage: perPage, sort: sort)
        else { return nil }
        return .categoryProducts(categoryID: category, request: request)
    }

    /// What refresh-ahead needs to refill `key`: its tags and loader.
    func refill(_ key: CacheKey) -> (
        tags: [String], dependent: Bool, loader: ReadThroughCache<PreparedResponse>.Loader
    )? {
        guard let route = Self.route(for: key), Self.cacheKey(for: route).0 == key else { return nil }
        let tags = Self.cacheKey(for: route).1
        return (tags, route.isListing, { try await self.loadResult(route) })
    }

    /// How long a miss may take to load before it is answered 503 (the databases' own timeouts
    /// are shorter; this bounds everything else).
    static let loadDeadline: Duration = .seconds(5)

    /// Renders a route from the databases.
    func load(_ route: StorefrontRoute) async throws -> PreparedResponse {
        try await render(route).response
    }

    private func render(_ route: StorefrontRoute) async throws -> (
        response: PreparedResponse, pastTheEnd: Bool, dependencies: [CatalogTag]
    ) {
        let renderer = self.renderer
        let rendered = try await Deadline.run(
            Self.loadDeadline,
            expired: { HybridError.postgresUnavailable("the page could not be loaded within \(Self.loadDeadline)") }
        ) {
            try await renderer.render(route)
        }
        let cacheControl = rendered.pastTheEnd ? "public, max-age=10" : self.cacheControl
        return (
            PreparedResponse(
                status: .ok, body: rendered.body, surrogateKey: rendered.tags.map(\.description).joined(separator: " "),
                cacheControl: cacheControl),
            rendered.pastTheEnd, rendered.dependencies
        )
    }

    /// The loader the cache calls: not-found answers and pages past a listing's end are cached
    /// briefly (the negative TTL), not for the hour of a real page.
    func loadResult(_ route: StorefrontRoute) async throws -> LoadResult {
        do {
            let (response, pastTheEnd, dependencies) = try await render(route)
            if pastTheEnd { return .notFound(response.payload()) }
            if dependencies.isEmpty { return .found(response.payload()) }
            return .dependent(response.payload(), on: dependencies.map(\.description))
        } catch let error as HybridError {
            switch error {
            case .productNotFound, .categoryNotFound:
                let problem = Problem(error)
                let (_, tags) = Self.cacheKey(for: route)
                return .notFound(
                    PreparedResponse(
                        status: problem.status, body: problem.body(), surrogateKey: tags.joined(separator: " "),
                        cacheControl: "public, max-age=10"
                    ).payload())
            default:
                throw error
            }
        }
    }

    /// Multi-get: each product is its own cache entry; the response is assembled from their stored
    /// bodies (no JSON is parsed), and the missing ones are loaded together in one batch.
    private func multiGet(
        _ ids: [Int64], cache: ReadThroughCache<PreparedResponse>, on eventLoop: any EventLoop, requestID: String
    ) -> EventLoopFuture<StorefrontResponse> {
        let items = ids.map { id -> (key: CacheKey, tags: [String]) in
            let (key, tags) = Self.cacheKey(for: .product(id: id))
            return (key, tags)
        }
        let cacheControl = self.cacheControl
        let renderer = self.renderer
        return cache.fetchMany(items, on: eventLoop) { missing in
            let wanted = missing.map { ids[$0] }
            let found = try await renderer.products.products(ids: wanted)
            var results: [Int: LoadResult] = [:]
            for index in missing {
                let id = ids[index]
                if let product = found[id] {
                    results[index] = .found(
                        PreparedResponse(
                            status: .ok, body: CatalogJSON.product(product),
                            surrogateKey: CatalogTag.product(id).description,
                            cacheControl: cacheControl
                        ).payload())
                } else {
                    let problem = Problem(HybridError.productNotFound(id))
                    results[index] = .notFound(
                        PreparedResponse(
                            status: .notFound, body: problem.body(), surrogateKey: CatalogTag.product(id).description,
                            cacheControl: cacheControl
                        ).payload())
                }
            }
            return results
        }.map { results in
            var body = ByteBufferAllocator().buffer(
                capacity: 64 + results.reduce(0) { $0 + $1.value.body.readableBytes })
            body.writeStaticString("{\"items\":[")
            var first = true
            var missing: [Int64] = []
            for (index, result) in results.enumerated() {
                guard !result.negative, result.value.status == .ok else {
                    missing.append(ids[index])
                    continue
                }
                if !first { body.writeStaticString(",") }
                first = false
                var item = result.value.body
                body.writeBuffer(&item)
            }
            body.writeStaticString("],\"missing\":[")
            body.writeString(missing.map(String.init).joined(separator: ","))
            body.writeStaticString("]}")
            let worst = results.map(\.outcome).first { $0 != .hit && $0 != .nearHit } ?? results.first?.outcome ?? .hit
            let prepared = PreparedResponse(
                status: .ok, etag: PreparedResponse.etag(of: body.readableBytesView),
                surrogateKey: ids.map { CatalogTag.product($0).description }.joined(separator: " "), body: body,
                cacheControl: cacheControl)
            return prepared.response(cacheStatus: CacheStatus.value(for: worst), label: worst.label)
        }.recover { error in
            self.problemResponse(for: error, route: .products(ids: ids), requestID: requestID)
        }
    }

    func problemResponse(for error: any Error, route: StorefrontRoute, requestID: String) -> StorefrontResponse {
        let problem: Problem
        switch error {
        case let hybrid as HybridError:
            problem = Problem(hybrid)
        default:
            logger.error(
                "storefront request failed",
                metadata: [
                    "route": "\(route.name)", "request.id": "\(requestID)", "error": "\(String(reflecting: error))",
                ])
            problem = .unavailable("the catalog could not be read and no cached copy exists; retry shortly")
        }
        if problem.status == .serviceUnavailable {
            logger.warning(
                "served 503: backends down and nothing cached",
                metadata: [
                    "route": "\(route.name)", "request.id": "\(requestID)", "error": "\(String(reflecting: error))",
                ])
        }
        return .problem(problem)
    }
}

extension CatalogResponder {
    /// Makes sure one route's response is cached, through the normal read-through path.
    public func warm(_ route: StorefrontRoute, on eventLoop: any EventLoop) async -> WarmOutcome {
        guard let cache else { return .failed("the cache is off (GATEWAY_CACHE_MODE=off)") }
        let (key, tags) = Self.cacheKey(for: route)
        do {
            let result = try await cache.fetch(key, tags: tags, dependent: route.isListing, on: eventLoop) {
                try await self.loadResult(route)
            }.get()
            switch result.outcome {
            case .miss(stored: true): return .filled
            case .hit, .nearHit, .stale: return .alreadyWarm
            case .miss(stored: false): return .failed("invalidated while loading; the next read fills it")
            case .bypass: return .failed("Redis is unavailable")
            }
        } catch let error as HybridError {
            return .failed(error.description)
        } catch {
            logger.warning(
                "warming a page failed",
                metadata: ["route": "\(route.cacheKey)", "error": "\(String(reflecting: error))"])
            return .failed("the page could not be loaded (the gateway's log has the detail)")
        }
    }
}
