import NIOCore
import NIOHPACK
import NIOHTTP1

/// A response ready to write: the body is a buffer that may be shared by many responses (a cache
/// entry), so writing it copies nothing.
public struct StorefrontResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    /// How the cache served it, for the request metrics (`near_hit`, `hit`, `stale`, `miss`, …).
    public var cacheLabel: String
    /// `headers` already carry the body's `Content-Length`.
    public var hasContentLength: Bool
    /// The same answer's HTTP/2 header list (`:status` first, every field HTTP/2 allows, the body's
    /// length included), when it was prepared once for many answers (a near-cache entry).
    var http2Headers: HPACKHeaders?

    public init(
        status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer, cacheLabel: String = "none",
        hasContentLength: Bool = false
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.cacheLabel = cacheLabel
        self.hasContentLength = hasContentLength
    }

    /// A problem+json response.
    public static func problem(_ problem: Problem, instance: String? = nil) -> StorefrontResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/problem+json")
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in problem.headers { headers.add(name: name, value: value) }
        return StorefrontResponse(
            status: problem.status, headers: headers, body: ByteBuffer(bytes: problem.body(instance: instance)))
    }
}

extension StorefrontResponse {
    /// The response a responder's future completed with; a failure is a 500 whose detail says
    /// it is logged (the responder logged it).
    static func answer(_ result: Result<StorefrontResponse, any Error>) -> StorefrontResponse {
        switch result {
        case .success(let response): response
        case .failure:
            .problem(
                Problem(
                    status: .internalServerError, title: "Internal Server Error",
                    detail: "the request failed; it is logged"))
        }
    }
}

extension Problem {
    /// A request whose headers (names and values) exceed `StorefrontHandler.maximumHeaderBytes`.
    static let requestHeadersTooLarge = Problem(
        status: .requestHeaderFieldsTooLarge, title: "Request Header Fields Too Large",
        detail: "the request's headers are larger than \(StorefrontHandler.maximumHeaderBytes / 1024) KiB in all")
}

/// What a responder has for a request: an answer right now (no allocation of a future, no task),
/// or one that completes later on the channel's event loop.
public enum StorefrontAnswer: Sendable {
    case now(StorefrontResponse)
    case later(EventLoopFuture<StorefrontResponse>)
}

/// A parsed storefront request and the request headers that shape the answer.
public struct StorefrontRequest: Sendable {
    public var route: StorefrontRoute
    public var isHead: Bool
    public var ifNoneMatch: String?
    public var acceptsGzip: Bool
    public var requestID: String
}

/// Answers storefront requests; the channel handler knows HTTP, the responder knows the catalog.
public protocol StorefrontResponder: Sendable {
    /// Called on the channel's event loop. Answer `.now` when the response is at hand (an L1 hit);
    /// otherwise return a future completed on `eventLoop`.
    func answer(_ request: StorefrontRequest, on eventLoop: any EventLoop) -> StorefrontAnswer
}
