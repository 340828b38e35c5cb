import Crypto
import Foundation
import Hummingbird

/// Admits requests carrying one of the configured bearer tokens, compared in constant time.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    /// SHA-256 digests of the tokens: comparing digests of equal length takes the same time
    /// whatever the guess, and the tokens themselves are not kept.
    let digests: [SHA256.Digest]

    init(tokens: [String]) {
        digests = tokens.map { SHA256.hash(data: Data($0.utf8)) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let header = request.headers[.authorization] else {
            throw Problem(
                status: .unauthorized, title: "Unauthorized",
                detail: "this endpoint needs an 'Authorization: Bearer <token>' header",
                headers: [("WWW-Authenticate", "Bearer realm=\"admin\"")])
        }
        guard header.lowercased().hasPrefix("bearer "), !digests.isEmpty else {
            throw Problem(
                status: .unauthorized, title: "Unauthorized",
                detail: "the Authorization header must use the Bearer scheme",
                headers: [("WWW-Authenticate", "Bearer realm=\"admin\"")])
        }
        let presented = SHA256.hash(data: Data(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8))
        var matched = false
        for digest in digests where Self.constantTimeEquals(digest, presented) { matched = true }
        guard matched else {
            throw Problem(
                status: .forbidden, title: "Forbidden",
                detail: "the bearer token is not one of the configured admin tokens")
        }
        return try await next(request, context)
    }

    static func constantTimeEquals(_ lhs: SHA256.Digest, _ rhs: SHA256.Digest) -> Bool {
        var difference: UInt8 = 0
        for (a, b) in zip(lhs, rhs) { difference |= a ^ b }
        return difference == 0
    }
}
