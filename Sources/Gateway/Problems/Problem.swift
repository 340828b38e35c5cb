import Hybrid
import NIOCore
import NIOHTTP1

/// An RFC 9457 problem: every error the gateway answers is one of these, as
/// `application/problem+json`, with a `detail` a client can act on and never a stack trace or SQL.
public struct Problem: Error, Sendable, Hashable {
    public var status: HTTPResponseStatus
    public var title: String
    public var detail: String
    /// Extra response headers (`Allow`, `Retry-After`).
    public var headers: [(String, String)] = []

    public init(status: HTTPResponseStatus, title: String, detail: String, headers: [(String, String)] = []) {
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers
    }

    public static func == (lhs: Problem, rhs: Problem) -> Bool {
        lhs.status == rhs.status && lhs.title == rhs.title && lhs.detail == rhs.detail
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(status.code)
        hasher.combine(detail)
    }

    /// The `type` URI: a stable name per kind of problem.
    public var type: String {
        "https://catalog-gateway.dev/problems/" + title.lowercased().replacingOccurrences(of: " ", with: "-")
    }

    /// The problem document.
    public func body(instance: String? = nil) -> [UInt8] {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.key("type")
        writer.string(type)
        writer.key("title")
        writer.string(title)
        writer.key("status")
        writer.int(Int64(status.code))
        writer.key("detail")
        writer.string(detail)
        if let instance {
            writer.key("instance")
            writer.string(instance)
        }
        writer.endObject()
        return writer.bytes
    }
}

extension Problem {
    public static func badRequest(_ detail: String) -> Problem {
        Problem(status: .badRequest, title: "Bad Request", detail: detail)
    }

    public static func notFound(_ detail: String) -> Problem {
        Problem(status: .notFound, title: "Not Found", detail: detail)
    }

    public static func unavailable(_ detail: String, retryAfter seconds: Int = 5) -> Problem {
        Problem(
            status: .serviceUnavailable, title: "Service Unavailable", detail: detail,
            headers: [("Retry-After", String(seconds))])
    }

    /// The one place where storefront route failures become HTTP problems.
    public init(_ failure: StorefrontRoute.Failure) {
        switch failure {
        case .notFound(let path):
            self = .notFound("no storefront resource at \(path.prefix(200)); see /openapi.json on the admin port")
        case .methodNotAllowed(let method, let path):
            self = Problem(
                status: .methodNotAllowed, title: "Method Not Allowed",
                detail: "\(method.prefix(20)) is not allowed on \(path.prefix(200)); the storefront is read-only",
                headers: [("Allow", StorefrontRoute.allowedMethods)])
        case .invalid(let detail):
            self = .badRequest(detail)
        }
    }

    /// The one place where hybrid-model errors become HTTP problems.
    public init(_ error: HybridError) {
        switch error {
        case .productNotFound, .categoryNotFound, .deadLetterNotFound:
            self = .notFound(error.description)
        case .versionConflict:
            self = Problem(status: .preconditionFailed, title: "Precondition Failed", detail: error.description)
        case .duplicateSKU, .duplicateSlug, .duplicateID, .categoryNotEmpty:
            self = Problem(status: .conflict, title: "Conflict", detail: error.description)
        case .invalidInput(let detail):
            self = .badRequest(detail)
        case .postgresUnavailable, .mongoUnavailable:
            self = .unavailable("a catalog database is unavailable and no cached copy exists; retry shortly")
        case .mongoFailed, .migrationFailed:
            self = Problem(
                status: .internalServerError, title: "Internal Server Error",
                detail: "the catalog could not answer; the error is logged")
        }
    }
}
