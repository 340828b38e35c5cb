import Metrics
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// Serves every stream of an HTTP/2 connection from the connection's own pipeline: frames in,
/// frames out, with no channel per stream and no translation to HTTP/1 messages.
///
/// `NIOHTTP2Handler` (without a stream multiplexer) still does the protocol: HPACK, flow control,
/// the stream limits, header validation and the flood protections. This handler reads a stream's
/// request from its HEADERS, answers with a HEADERS frame (the entry's header list prepared once,
/// see `PreparedResponse.http2Headers`) and a DATA frame holding the shared body buffer.
final class HTTP2StorefrontHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let responder: any StorefrontResponder
    private let inFlight: InFlightRequests
    private let readTimeout: TimeAmount
    /// Streams whose request has begun but not ended (a request with a body), with their deadline.
    private var incomplete: [HTTP2StreamID: IncompleteRequest] = [:]
    /// Streams whose answer is being prepared: one the client resets meanwhile is left out of it
    /// (writing on a closed stream is a connection error in NIOHTTP2's inline mode).
    private var answering: Set<HTTP2StreamID> = []
    /// Answers ready while the socket could not take more: NIOHTTP2 would hold their HEADERS
    /// frames, and one whose stream the client resets meanwhile would then fail the connection.
    /// Kept here until writable, and dropped if their stream closes first.
    private var held: [HeldAnswer] = []

    struct HeldAnswer {
        var stream: HTTP2StreamID
        var headers: HPACKHeaders
        var body: ByteBuffer?
    }
    private var timers = RequestTimers()
    private var requestCounter: UInt64 = 0
    private let requestIDPrefix: String
    private var flushPending = false
    private var inReadLoop = false

    struct IncompleteRequest {
        var headers: HPACKHeaders
        var started: NIODeadline
        var deadline: Scheduled<Void>
    }

    init(responder: any StorefrontResponder, inFlight: InFlightRequests, readTimeout: TimeAmount) {
        self.responder = responder
        self.inFlight = inFlight
        self.readTimeout = readTimeout
        self.requestIDPrefix = RequestIDs.nextHandlerPrefix()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inReadLoop = true
        let frame = unwrapInboundIn(data)
        let stream = frame.streamID
        switch frame.payload {
        case .headers(let payload):
            if let pending = incomplete[stream] {
                // Trailers end the request.
                if payload.endStream {
                    pending.deadline.cancel()
                    incomplete[stream] = nil
                    respond(stream: stream, headers: pending.headers, started: pending.started, context: context)
                }
            } else if payload.endStream {
                respond(stream: stream, headers: payload.headers, started: .now(), context: context)
            } else {
                // A request with a body: storefront requests have none, so it is read and ignored;
                // a stream that never ends its request is reset after the read timeout.
                let deadline = context.eventLoop.assumeIsolated().scheduleTask(in: readTimeout) {
                    guard self.incomplete.removeValue(forKey: stream) != nil else { return }
                    context.writeAndFlush(
                        self.wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .rstStream(.cancel))),
                        promise: nil)
                }
                incomplete[stream] = IncompleteRequest(headers: payload.headers, started: .now(), deadline: deadline)
            }
        case .data(let payload):
            // The body is read and dropped; the windows are given back so later requests flow.
            // (A padded frame also spends its pad-length byte.)
            let consumed = payload.data.readableBytes + (payload.paddingBytes.map { $0 + 1 } ?? 0)
            if consumed > 0 {
                context.write(
                    wrapOutboundOut(
                        HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: consumed))),
                    promise: nil)
                // Only for a stream still being read, and only while frames go out at once (a
                // WINDOW_UPDATE held back until a stream has closed is a connection error).
                if !payload.endStream, incomplete[stream] != nil, context.channel.isWritable {
                    context.write(
                        wrapOutboundOut(
                            HTTP2Frame(streamID: stream, payload: .windowUpdate(windowSizeIncrement: consumed))),
                        promise: nil)
                }
                flushPending = true
            }
            if payload.endStream, let pending = incomplete.removeValue(forKey: stream) {
                pending.deadline.cancel()
                respond(stream: stream, headers: pending.headers, started: pending.started, context: context)
            }
        case .rstStream:
            incomplete.removeValue(forKey: stream)?.deadline.cancel()
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent {
            answering.remove(closed.streamID)
            incomplete.removeValue(forKey: closed.streamID)?.deadline.cancel()
            let before = held.count
            held.removeAll { $0.stream == closed.streamID }
            for _ in held.count..<before { inFlight.end() }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadLoop = false
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && !held.isEmpty {
            let answers = held
            held.removeAll()
            for answer in answers { send(answer, context: context) }
            context.flush()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        for pending in incomplete.values { pending.deadline.cancel() }
        incomplete.removeAll()
        answering.removeAll()
        for _ in held { inFlight.end() }
        held.removeAll()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        for pending in incomplete.values { pending.deadline.cancel() }
        incomplete.removeAll()
    }

    private func respond(
        stream: HTTP2StreamID, headers: HPACKHeaders, started: NIODeadline, context: ChannelHandlerContext
    ) {
        inFlight.begin()
        answering.insert(stream)
        requestCounter &+= 1
        let requestID =
            StorefrontHandler.requestID(first: headers.first(name: "x-request-id"))
            ?? "\(requestIDPrefix)-\(requestCounter)"
        let method = headers.first(name: ":method") ?? ""
        let isHead = method == "HEAD"
        if Self.headerBytes(headers) > StorefrontHandler.maximumHeaderBytes {
            let problem = Problem.requestHeadersTooLarge
            write(
                .problem(problem, instance: "/"), stream: stream, request: nil, isHead: isHead, requestID: requestID,
                started: started, context: context)
            return
        }
        let path = headers.first(name: ":path") ?? ""
        let request: StorefrontRequest
        switch StorefrontRoute.parse(method: method, uri: path) {
        case .success(let route):
            request = StorefrontRequest(
                route: route, isHead: isHead, ifNoneMatch: headers.first(name: "if-none-match"),
                acceptsGzip: Self.acceptsGzip(headers), requestID: requestID)
        case .failure(let failure):
            write(
                .problem(Problem(failure), instance: path), stream: stream, request: nil, isHead: isHead,
                requestID: requestID, started: started, context: context)
            return
        }
        switch responder.answer(request, on: context.eventLoop) {
        case .now(let response):
            write(
                response, stream: stream, request: request, isHead: isHead, requestID: requestID, started: started,
                context: context)
        case .later(let future):
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                let response = StorefrontResponse.answer(result)
                self.write(
                    response, stream: stream, request: request, isHead: isHead, requestID: requestID,
                    started: started, context: context)
            }
        }
    }

    private func write(
        _ response: StorefrontResponse, stream: HTTP2StreamID, request: StorefrontRequest?, isHead: Bool,
        requestID: String, started: NIODeadline, context: ChannelHandlerContext
    ) {
        guard answering.remove(stream) != nil else {
            // Reset (or the connection closed) while the answer was prepared.
            timers.record(
                route: request?.route.name ?? "invalid", cache: response.cacheLabel, status: response.status,
                started: started)
            inFlight.end()
            return
        }
        var status = response.status
        var sendBody = !isHead && response.body.readableBytes > 0
        var headers: HPACKHeaders
        if status == .ok, let tag = request?.ifNoneMatch, let etag = response.headers.first(name: "etag"),
            StorefrontHandler.matches(tag, etag)
        {
            status = .notModified
            sendBody = false
            headers = Self.hpack(status: status, response.headers, dropping: ["content-encoding", "content-length"])
        } else if let prepared = response.http2Headers {
            headers = prepared
        } else {
            headers = Self.hpack(status: status, response.headers, dropping: [])
            if !response.hasContentLength {
                headers.add(
                    name: "content-length", value: String(response.body.readableBytes), indexing: .nonIndexable)
            }
        }
        headers.add(name: "x-request-id", value: requestID, indexing: .nonIndexable)
        timers.record(
            route: request?.route.name ?? "invalid", cache: response.cacheLabel, status: status, started: started)
        let answer = HeldAnswer(stream: stream, headers: headers, body: sendBody ? response.body : nil)
        guard context.channel.isWritable else {
            held.append(answer)
            return
        }
        send(answer, context: context)
        if inReadLoop {
            flushPending = true
        } else {
            context.flush()
        }
    }

    private func send(_ answer: HeldAnswer, context: ChannelHandlerContext) {
        let inFlight = self.inFlight
        let done: EventLoopPromise<Void> = context.eventLoop.makePromise()
        done.futureResult.whenComplete { _ in inFlight.end() }
        if let body = answer.body {
            context.write(
                wrapOutboundOut(HTTP2Frame(streamID: answer.stream, payload: .headers(.init(headers: answer.headers)))),
                promise: nil)
            context.write(
                wrapOutboundOut(
                    HTTP2Frame(streamID: answer.stream, payload: .data(.init(data: .byteBuffer(body), endStream: true)))
                ),
                promise: done)
        } else {
            context.write(
                wrapOutboundOut(
                    HTTP2Frame(
                        streamID: answer.stream, payload: .headers(.init(headers: answer.headers, endStream: true)))
                ), promise: done)
        }
    }

    /// A response's header list for HTTP/2: `:status` first, names lower-cased, the fields HTTP/2
    /// forbids (RFC 9113 §8.2.2) left out, and every field a literal that never enters the
    /// connection's HPACK table (see `NonIndexingHeaders`).
    static func hpack(status: HTTPResponseStatus, _ fields: HTTPHeaders, dropping: Set<String>) -> HPACKHeaders {
        var headers = HPACKHeaders()
        headers.reserveCapacity(fields.count + 3)
        headers.add(name: ":status", value: String(status.code), indexing: .indexable)
        for (name, value) in fields {
            let lowered = name.lowercased()
            if dropping.contains(lowered) || Self.connectionSpecific.contains(lowered) { continue }
            headers.add(name: lowered, value: value, indexing: Self.indexing(lowered))
        }
        return headers
    }

    /// Fields with a handful of distinct values per process may enter the HPACK table (a repeat
    /// costs one byte and no Huffman coding); any field whose value varies per entry or request
    /// (ETag, Surrogate-Key, lengths, ids) is a literal that is never indexed, so what a connection
    /// keeps is bounded whatever table size the client allows.
    static func indexing(_ name: String) -> HPACKIndexing {
        switch name {
        case "content-type", "cache-control", "vary", "content-encoding", "cache-status": .indexable
        default: .nonIndexable
        }
    }

    static let connectionSpecific: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
    ]

    /// The size of a request's headers as the limits count it (names and values, pseudo-fields
    /// included, as HTTP/1.1's request line and Host are).
    static func headerBytes(_ headers: HPACKHeaders) -> Int {
        var total = 0
        for (name, value, _) in headers { total += name.utf8.count + value.utf8.count }
        return total
    }

    static func acceptsGzip(_ headers: HPACKHeaders) -> Bool {
        let values = headers[canonicalForm: "accept-encoding"]
        guard !values.isEmpty else { return false }
        return AcceptEncoding.acceptsGzip(values)
    }
}

/// Request duration timers by route × cache outcome × status class, one handle per label set and
/// connection: creating one goes through the metrics factory's lock, so the hot path does it once.
struct RequestTimers {
    struct Key: Hashable {
        let route: String
        let cache: String
        let statusClass: Int
    }
    private var timers: [Key: Timer] = [:]

    mutating func record(route: String, cache: String, status: HTTPResponseStatus, started: NIODeadline) {
        // Keyed without building a string: the labels are literals, the class a number.
        let key = Key(route: route, cache: cache, statusClass: Int(status.code / 100))
        let timer: Timer
        if let existing = timers[key] {
            timer = existing
        } else {
            timer = Timer(
                label: "storefront_request_duration_seconds",
                dimensions: [("route", route), ("cache", cache), ("status", "\(key.statusClass)xx")],
                preferredDisplayUnit: .seconds)
            timers[key] = timer
        }
        timer.recordNanoseconds(Int64(NIODeadline.now().uptimeNanoseconds) - Int64(started.uptimeNanoseconds))
    }
}
