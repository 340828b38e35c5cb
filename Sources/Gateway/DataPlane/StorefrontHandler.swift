import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization

/// Serves storefront requests on the channel's event loop, for HTTP/1.1 connections and for each
/// HTTP/2 stream (behind `HTTP2FramePayloadToHTTP1ServerCodec`; the h2c and h2 listeners use
/// `HTTP2StorefrontHandler`, which shares its rules).
///
/// An answer the responder has at hand (an L1 hit) is written synchronously: no task, no future,
/// no copy of the body. Anything else completes on this event loop and is written from there.
final class StorefrontHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: any StorefrontResponder
    private let inFlight: InFlightRequests
    private var head: HTTPRequestHead?
    private var requestStarted: NIODeadline = .now()
    private var timers = RequestTimers()
    private var requestCounter: UInt64 = 0
    private let requestIDPrefix: String

    /// A request whose headers (names and values) exceed this is answered 431.
    static let maximumHeaderBytes = 16 * 1024

    /// Whether this handler serves one HTTP/2 stream (else an HTTP/1.1 connection).
    private let isStream: Bool
    /// HTTP/2: how long a stream may take to deliver its whole request.
    private let readTimeout: TimeAmount
    private var streamDeadline: Scheduled<Void>?

    init(responder: any StorefrontResponder, inFlight: InFlightRequests, isStream: Bool, readTimeout: TimeAmount) {
        self.responder = responder
        self.inFlight = inFlight
        self.isStream = isStream
        self.readTimeout = readTimeout
        self.requestIDPrefix = RequestIDs.nextHandlerPrefix()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            requestStarted = .now()
            if isStream {
                // A stream that never finishes its request is reset (HTTP/1.1 connections are
                // timed by ConnectionTimeoutHandler, which sees their raw bytes).
                streamDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: readTimeout) {
                    if self.head != nil { context.close(promise: nil) }
                }
            }
        case .body:
            // Storefront requests have no body; whatever a client sends is ignored, not buffered.
            break
        case .end:
            streamDeadline?.cancel()
            streamDeadline = nil
            guard let head else { return }
            self.head = nil
            if !isStream { requestReceived(context: context) }
            respond(to: head, context: context)
        }
    }

    /// The connection's timeout handler, told directly when a request is complete and when its
    /// answer was sent (HTTP/1.1; an event down the pipeline would cost a trip through every
    /// handler and a dynamic cast, twice per request).
    private var connectionTimeouts: ConnectionTimeoutHandler?

    func handlerAdded(context: ChannelHandlerContext) {
        if !isStream {
            connectionTimeouts = try? context.pipeline.syncOperations.handler(type: ConnectionTimeoutHandler.self)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        streamDeadline?.cancel()
        streamDeadline = nil
        connectionTimeouts = nil
    }

    private func requestReceived(context: ChannelHandlerContext) {
        if let connectionTimeouts {
            connectionTimeouts.requestReceived()
        } else {
            context.triggerUserOutboundEvent(ConnectionTimeoutHandler.Event.requestReceived, promise: nil)
        }
    }

    private func responseSent(context: ChannelHandlerContext) {
        if let connectionTimeouts {
            connectionTimeouts.responseSent()
        } else {
            context.triggerUserOutboundEvent(ConnectionTimeoutHandler.Event.responseSent, promise: nil)
        }
    }

    /// The size of a request's headers as the limits count it (names and values).
    static func headerBytes(_ headers: HTTPHeaders) -> Int {
        var total = 0
        for (name, value) in headers { total += name.utf8.count + value.utf8.count }
        return total
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        inFlight.begin()
        requestCounter &+= 1
        let requestID = Self.requestID(from: head.headers) ?? "\(requestIDPrefix)-\(requestCounter)"
        if Self.headerBytes(head.headers) > Self.maximumHeaderBytes {
            let problem = Problem.requestHeadersTooLarge
            write(.problem(problem, instance: "/"), for: head, request: nil, requestID: requestID, context: context)
            return
        }
        if let problem = Self.hostProblem(head) {
            write(.problem(problem, instance: "/"), for: head, request: nil, requestID: requestID, context: context)
            return
        }
        let request: StorefrontRequest
        switch StorefrontRoute.parse(method: head.method.rawValue, uri: head.uri) {
        case .success(let route):
            request = StorefrontRequest(
                route: route, isHead: head.method == .HEAD, ifNoneMatch: head.headers.first(name: "if-none-match"),
                acceptsGzip: Self.acceptsGzip(head.headers), requestID: requestID)
        case .failure(let failure):
            write(
                .problem(Problem(failure), instance: head.uri), for: head, request: nil, requestID: requestID,
                context: context)
            return
        }
        switch responder.answer(request, on: context.eventLoop) {
        case .now(let response):
            write(response, for: head, request: request, requestID: requestID, context: context)
        case .later(let future):
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                let response = StorefrontResponse.answer(result)
                self.write(response, for: head, request: request, requestID: requestID, context: context)
            }
        }
    }

    private func write(
        _ response: StorefrontResponse, for head: HTTPRequestHead, request: StorefrontRequest?, requestID: String,
        context: ChannelHandlerContext
    ) {
        var status = response.status
        var headers = response.headers
        var sendBody = !(request?.isHead ?? false)
        if status == .ok, let tag = request?.ifNoneMatch, let etag = headers.first(name: "etag"),
            Self.matches(tag, etag)
        {
            status = .notModified
            sendBody = false
            headers.remove(name: "content-encoding")
            headers.remove(name: "content-length")
        } else if !response.hasContentLength {
            headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        }
        headers.add(name: "x-request-id", value: requestID)
        timers.record(
            route: request?.route.name ?? "invalid", cache: response.cacheLabel, status: status,
            started: requestStarted)
        let keepAlive = head.isKeepAlive
        let isHTTP1 = head.version.major == 1
        if isHTTP1 && !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if sendBody && response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        let inFlight = self.inFlight
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if isHTTP1 && !keepAlive {
            done.assumeIsolated().whenComplete { _ in
                inFlight.end()
                context.close(promise: nil)
            }
        } else if isStream {
            done.whenComplete { _ in inFlight.end() }
        } else {
            done.assumeIsolated().whenComplete { _ in
                inFlight.end()
                self.responseSent(context: context)
            }
        }
    }

    /// `If-None-Match` (RFC 9110 §13.1.2): weak comparison against the entity's ETag; a malformed
    /// field matches nothing (the full answer is sent).
    static func matches(_ ifNoneMatch: String, _ etag: String) -> Bool {
        if ifNoneMatch == etag { return true }  // the common case, without parsing
        return EntityTags(ifNoneMatch)?.matchesWeakly(etag) ?? false
    }

    static func acceptsGzip(_ headers: HTTPHeaders) -> Bool {
        let values = headers[canonicalForm: "accept-encoding"]
        guard !values.isEmpty else { return false }
        return AcceptEncoding.acceptsGzip(values.map(String.init))
    }

    /// RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host field (HTTP/2's `:authority`
    /// arrives as Host through the codec and may be absent).
    static func hostProblem(_ head: HTTPRequestHead) -> Problem? {
        guard head.version == .http1_1 else { return nil }
        var hosts = 0
        // Counted as `headers[canonicalForm:]` would (empty values are none, a list is several),
        // without building that array on every request.
        for (name, value) in head.headers where name.utf8.count == 4 && name.lowercased() == "host" {
            let blank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            if value.utf8.contains(UInt8(ascii: ",")) {
                hosts += value.utf8.split(separator: UInt8(ascii: ",")).filter { !$0.allSatisfy(blank) }.count
            } else if !value.utf8.allSatisfy(blank) {
                hosts += 1
            }
        }
        if hosts == 1 { return nil }
        return .badRequest(
            hosts == 0
                ? "an HTTP/1.1 request needs a Host header" : "an HTTP/1.1 request must have exactly one Host header")
    }

    /// A client's request id is kept when it is short and printable, so logs can be joined.
    static func requestID(from headers: HTTPHeaders) -> String? {
        requestID(first: headers.first(name: "x-request-id"))
    }

    static func requestID(first value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128,
            value.utf8.allSatisfy({ $0 > 32 && $0 < 127 })
        else { return nil }
        return value
    }
}

/// Request ids unique for the life of the process, and across processes with overwhelming odds:
/// a random 64-bit prefix drawn once per process, the number of the handler (one per HTTP/1.1
/// connection or HTTP/2 stream, from one process-wide counter) and the handler's own count. (A
/// random 32-bit prefix per handler collides after ~77,000 streams by the birthday bound.)
enum RequestIDs {
    static let process = String(UInt64.random(in: 0...UInt64.max), radix: 16)
    private static let handlers = Atomic<UInt64>(0)

    /// The prefix of the next handler's ids: `process-handler`.
    static func nextHandlerPrefix() -> String {
        let number = handlers.add(1, ordering: .relaxed).newValue
        return process + "-" + String(number, radix: 16)
    }
}

/// Counts requests being answered, so shutdown can wait for them.
final class InFlightRequests: Sendable {
    private let count = Atomic<Int>(0)
    func begin() { count.add(1, ordering: .relaxed) }
    func end() { count.subtract(1, ordering: .relaxed) }
    var current: Int { count.load(ordering: .relaxed) }
}
