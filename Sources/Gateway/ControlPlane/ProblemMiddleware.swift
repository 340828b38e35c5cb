import HTTPTypes
import Hummingbird
import NIOHTTP1
import Hybrid
import Logging
import NIOCore

/// Turns every error of the admin port into an RFC 9457 problem document, in this one place.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Paths of the control plane and the methods each accepts: a known path with another method
    /// is `405` with `Allow`, not `404`.
    let routes: [(pattern: [Substring], methods: [HTTPRequest.Method])]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let segments = request.uri.path.split(separator: "/")
        if let route = routes.first(where: { Self.matches($0.pattern, segments) }),
            !route.methods.contains(request.method)
        {
            return Self.response(
                Problem(
                    status: .methodNotAllowed, title: "Method Not Allowed",
                    detail: "\(request.method.rawValue) is not allowed on \(request.uri.path)",
                    headers: [("Allow", route.methods.map(\.rawValue).joined(separator: ", "))]),
                instance: request.uri.path)
        }
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return Self.response(problem, instance: request.uri.path)
        } catch let error as HybridError {
            if case .postgresUnavailable = error {
                context.logger.warning("admin request failed: PostgreSQL unavailable")
            }
            return Self.response(Problem(error), instance: request.uri.path)
        } catch is NIOTooManyBytesError {
            return Self.response(
                Problem(
                    status: .payloadTooLarge, title: "Payload Too Large",
                    detail: "the request body is larger than 1 MiB"),
                instance: request.uri.path)
        } catch let error as HTTPError {
            let status = HTTPResponseStatus(statusCode: Int(error.status.code))
            return Self.response(
                Problem(status: status, title: status.reasonPhrase, detail: error.body ?? status.reasonPhrase),
                instance: request.uri.path)
        } catch {
            context.logger.error("admin request failed", metadata: ["error": "\(String(reflecting: error))"])
            return Self.response(
                Problem(
                    status: .internalServerError, title: "Internal Server Error",
                    detail: "the request failed; it is logged"),
                instance: request.uri.path)
        }
    }

    static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        pattern.count == segments.count && zip(pattern, segments).allSatisfy { $0 == "*" || $0 == $1 }
    }

    static func response(_ problem: Problem, instance: String) -> Response {
        var headers: HTTPFields = [.contentType: "application/problem+json", .cacheControl: "no-store"]
        for (name, value) in problem.headers {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        return Response(
            status: .init(code: Int(problem.status.code)), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: problem.body(instance: instance))))
    }
}
