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
struct HookRoutes: Sendable {
    let catalog: HybridCatalog
    let cache: ReadThroughCache<PreparedResponse>?
    let invalidator: any TagInvalidator
    let signature: HookSignature?

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
        do {
            try signature.verify(
                signature: request.headers[HTTPField.Name("X-Signature")!],
                timestamp: request.headers[HTTPField.Name("X-Timestamp")!],
                body: bytes)
        } catch let failure as HookSignature.Failure {
            throw Problem(status: .unauthorized, title: "Unauthorized", detail: failure.description)
        }
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
            throw Problem.badRequest("the body must be a JSON object")
        }
        let body = JSONBody(fields: fields)
        if let unknown = fields.keys.sorted().first(where: { !["products", "categories", "all", "mode"].contains($0) })
        {
            throw Problem.badRequest("unknown field '\(unknown.prefix(64))'; allowed: products, categories, all, mode")
        }
        let products = try body.integers("products") ?? []
        let categories = try body.integers("categories") ?? []
        let all = try body.bool("all") ?? false
        let modeText = try body.string("mode") ?? "hard"
        guard let mode = InvalidationMode(rawValue: modeText) else {
            throw Problem.badRequest("field 'mode' must be hard or soft, got '\(modeText.prefix(20))'")
        }
        guard all || !products.isEmpty || !categories.isEmpty else {
            throw Problem.badRequest("name products, categories, or all: true")
        }
        guard products.count + categories.count <= 10_000 else {
            throw Problem.badRequest("at most 10000 ids per hook; use all: true for everything")
        }
        var tags: [CatalogTag] = products.map { .product($0) } + categories.map { .category($0) }
        if all || !categories.isEmpty { tags.append(.categories) }
        if all { tags += try await everyTag() }
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
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("invalidated_tags")
        writer.int(Int64(invalidated))
        writer.key("mode")
        writer.string(mode.rawValue)
        writer.endObject()
        return AdminRoutes.json(.ok, writer.bytes)
    }

    /// Every category's and product's tag, for `all: true`.
    private func everyTag() async throws -> [CatalogTag] {
        try await catalog.allTags()
    }
}
