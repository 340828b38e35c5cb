import CacheLayer
import Foundation
import HTTPTypes
import Hummingbird
import Hybrid
import NIOCore

/// `POST /hooks/v1/invalidate`, for admin systems that write the databases themselves.
///
/// Body: `{"products": [1, 2], "categories": [3], "all": false, "mode": "hard" | "soft"}`, signed with
/// HMAC-SHA256 over `X-Timestamp + "." + body` (`X-Signature: sha256=<hex>`), within 5 minutes.
/// A signed request is applied once: a replay within the window is refused (409) and does
/// nothing, in every gateway that shares the Redis. It is recorded as applied only once every
/// tag was invalidated, so a hook answered 503 can be sent again.
struct HookRoutes: Sendable {
    let catalog: HybridCatalog
    let cache: ReadThroughCache<PreparedResponse>?
    let invalidator: any TagInvalidator
    let signature: HookSignature?
    let redis: RedisClient
    let scheme: CacheKeyScheme

    static let fields: Set<String> = ["products", "categories", "all", "mode"]

    func register(on router: Router<BasicRequestContext>) {
        router.post("hooks/v1/invalidate") { request, _ in try await invalidate(request) }
    }

    func invalidate(_ request: Request) async throws -> Response {
        guard let signature else {
            throw Problem(
                status: .forbidden, title: "Forbidden",
                detail: "hooks are disabled: GATEWAY_HOOK_SECRET is not configured")
        }
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw Problem(
                status: .unsupportedMediaType, title: "Unsupported Media Type",
                detail: "the body must be application/json")
        }
        let buffer = try await request.body.collect(upTo: JSONBody.maximumBytes)
        let bytes = Array(buffer.readableBytesView)
        let signed: String
        do {
            signed = try signature.verify(
                signature: request.headers[Self.signatureHeader], timestamp: request.headers[Self.timestampHeader],
                body: bytes)
        } catch let failure as HookSignature.Failure {
            throw Problem(status: .unauthorized, title: "Unauthorized", detail: failure.description)
        }
        let appliedKey = scheme.appliedHook(signed)
        let seen: ByteBuffer?
        do {
            seen = try await redis.get(appliedKey)
        } catch {
            throw Problem.unavailable("the cache could not be reached; nothing was invalidated; retry the hook")
        }
        if seen != nil {
            throw Problem(
                status: .conflict, title: "Conflict",
                detail:
                    "this signed request was already applied; a new invalidation needs a new X-Timestamp and signature")
        }
        let (products, categories, all, mode) = try Self.request(try JSONBody.parse(bytes, allowed: Self.fields))
        var tags: [CatalogTag] = products.map { .product($0) } + categories.map { .category($0) }
        // A product changed elsewhere may show on its category's pages (and, its price, in their
        // order): the pages that show it, and the price order.
        let listed = all ? [] : try await catalog.listedTags(ofProducts: products)
        tags += listed
        for case .listed(let category, _) in listed where !tags.contains(.categoryPrices(category)) {
            tags.append(.categoryPrices(category))
        }
        if all || !categories.isEmpty { tags.append(.categories) }
        if all { tags += try await catalog.allTags() }
        var invalidated = 0
        do {
            for start in stride(from: 0, to: tags.count, by: 1000) {
                let batch = Array(tags[start..<min(tags.count, start + 1000)])
                if let cache {
                    try await cache.invalidate(tags: batch.map(\.description), mode: mode)
                } else {
                    try await invalidator.invalidate(batch)
                }
                invalidated += batch.count
            }
        } catch {
            throw Problem.unavailable(
                "the cache could not be reached; \(invalidated) of \(tags.count) tags were invalidated; retry the hook")
        }
        // Applied: from now on the same signed request is a replay (kept a little past the window,
        // which the timestamp check enforces).
        _ = try? await redis.send(
            RESPCommand(
                "SET",
                [
                    .string(appliedKey), "1", "NX", "PX", .integer((HookSignature.replayWindow + 60) * 1000),
                ]),
            key: appliedKey
        ).get()
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("invalidated_tags")
        writer.int(Int64(invalidated))
        writer.key("mode")
        writer.string(mode.rawValue)
        writer.endObject()
        return AdminRoutes.json(.ok, writer.bytes)
    }

    /// A hook body's products, categories, `all` and mode, validated.
    /// - Throws: `Problem` (400) naming the field.
    static func request(_ body: JSONBody) throws -> (
        products: [Int64], categories: [Int64], all: Bool, mode: InvalidationMode
    ) {
        let products = try body.integers("products") ?? []
        let categories = try body.integers("categories") ?? []
        let all = try body.bool("all") ?? false
        let modeText = try body.string("mode") ?? "hard"
        guard let mode = InvalidationMode(rawValue: modeText) else {
            throw Problem.badRequest("field 'mode' must be hard or soft, got '\(JSONBody.printable(modeText))'")
        }
        guard all || !products.isEmpty || !categories.isEmpty else {
            throw Problem.badRequest("name products, categories, or all: true")
        }
        guard products.count + categories.count <= 10_000 else {
            throw Problem.badRequest("at most 10000 ids per hook; use all: true for everything")
        }
        return (products, categories, all, mode)
    }

    static let signatureHeader = HTTPField.Name("X-Signature")!
    static let timestampHeader = HTTPField.Name("X-Timestamp")!
}
