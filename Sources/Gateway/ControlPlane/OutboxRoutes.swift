import Foundation
import Hummingbird
import Hybrid

/// The outbox's dead letters: changes that could not be delivered, kept for an operator.
///
/// `GET /admin/v1/outbox/dead-letters?after=&limit=` lists them oldest first;
/// `POST /admin/v1/outbox/dead-letters/{id}/retry` puts one back in the outbox (the relay delivers
/// it next); `DELETE /admin/v1/outbox/dead-letters/{id}` drops it for good.
struct OutboxRoutes: Sendable {
    let deadLetters: OutboxDeadLetters

    func register(on group: RouterGroup<BasicRequestContext>) {
        group.get("outbox/dead-letters") { request, _ in try await list(request) }
        group.post("outbox/dead-letters/:id/retry") { _, context in
            try await deadLetters.retry(id: try AdminRoutes.id(context))
            return AdminRoutes.json(.accepted, Self.state("queued: the relay delivers it next"))
        }
        group.delete("outbox/dead-letters/:id") { _, context in
            try await deadLetters.discard(id: try AdminRoutes.id(context))
            return Response(status: .noContent)
        }
    }

    func list(_ request: Request) async throws -> Response {
        let after = try Self.number(request, "after", in: 0...Int64.max) ?? 0
        let limit = try Self.number(request, "limit", in: 1...1000) ?? 100
        let letters = try await deadLetters.list(after: after, limit: Int(limit))
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("items")
        writer.beginArray()
        for letter in letters {
            writer.beginObject()
            writer.key("id")
            writer.int(letter.id)
            writer.key("product_id")
            if let product = letter.productID { writer.int(product) } else { writer.null() }
            writer.key("version")
            writer.int(letter.version)
            writer.key("operation")
            writer.string(letter.operation)
            writer.key("tags")
            writer.beginArray()
            for tag in letter.tags { writer.string(tag) }
            writer.endArray()
            writer.key("attempts")
            writer.int(Int64(letter.attempts))
            writer.key("last_error")
            writer.string(letter.lastError)
            writer.key("created_at")
            writer.string(Self.timestamp(letter.createdAt))
            writer.key("dead_at")
            writer.string(Self.timestamp(letter.deadAt))
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return AdminRoutes.json(.ok, writer.bytes)
    }

    static func state(_ detail: String) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("detail")
        writer.string(detail)
        writer.endObject()
        return writer.bytes
    }

    static func number(_ request: Request, _ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = request.uri.queryParameters[Substring(name)] else { return nil }
        guard text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int64(text),
            range.contains(value)
        else {
            throw Problem.badRequest(
                "query parameter '\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
