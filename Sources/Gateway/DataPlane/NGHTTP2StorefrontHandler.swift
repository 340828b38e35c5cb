import CNghttp2
import Glibc
import NIOCore
import NIOHTTP1

/// Serves an HTTP/2 connection with libnghttp2 (the C library h2load and nghttpd are built on)
/// instead of NIOHTTP2: bytes in through `nghttp2_session_mem_recv`, frames out through
/// `nghttp2_session_send`, each answer's body written as a slice of the shared cache buffer
/// (`NGHTTP2_DATA_FLAG_NO_COPY`), never copied.
///
/// The library does the protocol (HPACK, flow control, SETTINGS, PING, the flood, reset and
/// CONTINUATION limits of Debian's patched 1.52); this handler keeps the gateway's own bounds:
/// at most `maximumConcurrentStreams` streams (one more ends the connection, as with NIOHTTP2),
/// request headers over 16 KiB answered 431 and over 64 KiB ending the connection, a request
/// that never ends reset after the read timeout, GOAWAY after the idle timeout and on graceful
/// shutdown, and no more reading while the socket cannot take what was written.
final class NGHTTP2StorefrontHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let responder: any StorefrontResponder
    private let inFlight: InFlightRequests
    private let settings: ConnectionSettings
    private var session: OpaquePointer?
    private var context: ChannelHandlerContext?
    private var streams: [Int32: Stream] = [:]
    private var timers = RequestTimers()
    private var requestCounter: UInt64 = 0
    private let requestIDPrefix: String
    /// Frame bytes the library produced, written as one buffer before any body slice.
    private var outbound: ByteBuffer
    private var wroteSomething = false
    /// How deep inside the library's calls (`mem_recv`, `send`) this handler is: its callbacks may
    /// submit, but not send, close the channel or free the session, so those wait for the
    /// outermost call to return (`leave`).
    private var depth = 0
    private var sendRequested = false
    private var closeRequested = false
    private var deleteRequested = false
    private var idleTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    private var stallTimer: Scheduled<Void>?
    private var closing = false
    /// The session was torn down (its callbacks must not create anything more).
    private var tornDown = false
    private var goingAway = false
    private var readPending = false
    /// Scratch space for one answer's header list (names and values back to back) and its `nghttp2_nv`s.
    private var headerBytes: [UInt8] = []
    private var nameValues: [nghttp2_nv] = []

    static let maximumHeaderListBytes = 64 * 1024

    struct Stream {
        enum Phase {
            case receiving
            case answering
            case sending(ByteBuffer, sent: Int)
        }
        var phase: Phase = .receiving
        var method = ""
        var path = ""
        var ifNoneMatch: String?
        var acceptEncoding: [String] = []
        var requestID: String?
        var headerBytes = 0
        var started: NIODeadline = .now()
        var deadline: Scheduled<Void>?
    }

    init(responder: any StorefrontResponder, inFlight: InFlightRequests, settings: ConnectionSettings) {
        self.responder = responder
        self.inFlight = inFlight
        self.settings = settings
        self.requestIDPrefix = RequestIDs.nextHandlerPrefix()
        self.outbound = ByteBufferAllocator().buffer(capacity: 0)
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        outbound = context.channel.allocator.buffer(capacity: 4096)
        guard let session = Self.makeSession(handler: self, settings: settings) else {
            context.close(promise: nil)
            return
        }
        self.session = session
        var entries = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                value: UInt32(settings.maximumConcurrentStreams)),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                value: UInt32(Self.maximumHeaderListBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_HEADER_TABLE_SIZE.rawValue), value: 4096),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        armIdleTimer()
        if context.channel.isActive { send() }
    }

    func channelActive(context: ChannelHandlerContext) {
        send()
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        tearDown()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        tearDown()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session else { return }
        let buffer = unwrapInboundIn(data)
        depth += 1
        let result = buffer.withUnsafeReadableBytes { bytes in
            nghttp2_session_mem_recv(
                session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        if result < 0 {
            // A fatal error (a flood, a bad preface, a header block past HPACK's limits): the
            // library stops without a GOAWAY for some of them, so one is written here; nothing
            // else is sent on the failed session.
            sendRequested = false
            closeRequested = false
            leave(context: context)
            goAwayAndClose(context: context, error: Self.goAwayCode(for: Int32(result)))
            return
        }
        leave(context: context)
        guard self.session != nil else { return }
        send()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stallTimer?.cancel()
            stallTimer = nil
            send()
            if readPending {
                readPending = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// No more reading while the socket cannot take what was already written: a client that
    /// sends requests without reading answers holds at most one socket buffer's worth.
    func read(context: ChannelHandlerContext) {
        if closing { return }
        if context.channel.isWritable {
            context.read()
        } else {
            readPending = true
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            goAway(context: context, error: NGHTTP2_NO_ERROR)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(context: context)
    }

    // MARK: - Sending

    /// Lets the library write every frame it has queued: not from inside its calls (then once the
    /// outermost returns), and not while the socket cannot take more (then once it can), so what
    /// a client that does not read can make this process hold is bounded.
    private func send() {
        guard let context, context.channel.isActive else { return }
        if depth > 0 {
            sendRequested = true
            return
        }
        guard context.channel.isWritable else {
            // Resumed by channelWritabilityChanged; a client that reads nothing for the idle
            // timeout is closed (its connection would otherwise be held forever).
            if stallTimer == nil {
                stallTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.idleTimeout) {
                    self.stallTimer = nil
                    guard let context = self.context, !context.channel.isWritable else { return }
                    context.close(promise: nil)
                }
            }
            return
        }
        guard let session else { return }
        depth += 1
        let failed = nghttp2_session_send(session) != 0
        leave(context: context)
        if failed {
            close(context: context)
            return
        }
        writeOutbound(context: context)
        flushIfNeeded(context: context)
        // The flush may have closed the channel and freed the session.
        guard let session = self.session else { return }
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
            close(context: context)
        }
    }

    /// Leaves one level of the library's calls; at the outermost, does what its callbacks asked for.
    private func leave(context: ChannelHandlerContext) {
        depth -= 1
        guard depth == 0 else { return }
        if deleteRequested, let session {
            deleteRequested = false
            nghttp2_session_del(session)
            self.session = nil
            return
        }
        if closeRequested {
            closeRequested = false
            close(context: context)
        } else if sendRequested {
            sendRequested = false
            send()
        }
    }

    private func writeOutbound(context: ChannelHandlerContext) {
        guard outbound.readableBytes > 0 else { return }
        context.write(wrapOutboundOut(outbound), promise: nil)
        outbound = context.channel.allocator.buffer(capacity: 1024)
        wroteSomething = true
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        if wroteSomething {
            wroteSomething = false
            context.flush()
        }
    }

    fileprivate func appendFrameBytes(_ bytes: UnsafeRawBufferPointer) {
        outbound.writeBytes(bytes)
    }

    /// A DATA frame: the 9-byte header with what was queued before it, then the body's slice.
    fileprivate func sendData(stream id: Int32, header: UnsafeRawBufferPointer, length: Int) -> Int32 {
        guard let context, case .sending(let body, let sent)? = streams[id]?.phase,
            let slice = body.getSlice(at: body.readerIndex + sent, length: length)
        else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
        outbound.writeBytes(header)
        writeOutbound(context: context)
        context.write(wrapOutboundOut(slice), promise: nil)
        streams[id]?.phase = .sending(body, sent: sent + length)
        return 0
    }

    /// How much of a body the next DATA frame carries (the library has checked flow control).
    fileprivate func readData(stream id: Int32, maximum: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard case .sending(let body, let sent)? = streams[id]?.phase else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        let length = min(maximum, body.readableBytes - sent)
        flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
        if sent + length == body.readableBytes { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return length
    }

    // MARK: - Streams

    fileprivate func beginHeaders(stream id: Int32) -> Int32 {
        if tornDown || closing { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
        if streams[id] != nil { return 0 }  // trailers of a request with a body
        if streams.count >= settings.maximumConcurrentStreams {
            // One stream past the advertised limit ends the connection (RFC 9113 §5.1.2).
            if let session { nghttp2_session_terminate_session(session, NGHTTP2_PROTOCOL_ERROR.rawValue) }
            return 0
        }
        idleTimer?.cancel()
        idleTimer = nil
        var stream = Stream()
        // From the first HEADERS frame: a header block or a body that never ends resets the stream.
        stream.deadline = context?.eventLoop.assumeIsolated().scheduleTask(in: settings.readTimeout) {
            guard let session = self.session, let pending = self.streams[id], case .receiving = pending.phase
            else { return }
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue)
            self.send()
        }
        streams[id] = stream
        return 0
    }

    fileprivate func header(stream id: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int32 {
        guard var stream = streams[id], case .receiving = stream.phase else { return 0 }
        stream.headerBytes += name.count + value.count
        if stream.headerBytes > Self.maximumHeaderListBytes {
            // Past what is decoded at all: the connection ends (COMPRESSION_ERROR, as NIOHTTP2 does).
            if let session { nghttp2_session_terminate_session(session, NGHTTP2_COMPRESSION_ERROR.rawValue) }
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
        }
        if stream.headerBytes <= StorefrontHandler.maximumHeaderBytes {
            switch name.count {
            case 5 where Self.equals(name, ":path"): stream.path = String(decoding: value, as: UTF8.self)
            case 7 where Self.equals(name, ":method"): stream.method = String(decoding: value, as: UTF8.self)
            case 12 where stream.requestID == nil && Self.equals(name, "x-request-id"):
                stream.requestID = String(decoding: value, as: UTF8.self)
            case 13 where stream.ifNoneMatch == nil && Self.equals(name, "if-none-match"):
                stream.ifNoneMatch = String(decoding: value, as: UTF8.self)
            case 15 where Self.equals(name, "accept-encoding"):
                stream.acceptEncoding.append(String(decoding: value, as: UTF8.self))
            default: break
            }
        }
        streams[id] = stream
        return 0
    }

    /// A frame of a stream arrived whole: a request that ended is answered; one that goes on
    /// (a body follows) gets its read deadline.
    fileprivate func frameReceived(stream id: Int32, type: UInt8, flags: UInt8) {
        guard let context, var stream = streams[id], case .receiving = stream.phase else { return }
        let ended = flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        guard ended, type == UInt8(NGHTTP2_HEADERS.rawValue) || type == UInt8(NGHTTP2_DATA.rawValue) else { return }
        stream.deadline?.cancel()
        stream.deadline = nil
        stream.phase = .answering
        streams[id] = stream
        respond(stream: id, request: stream, context: context)
    }

    /// Resets a client sent in the current 30-second window (rapid reset, CVE-2023-44487): past
    /// 200 the connection ends with ENHANCE_YOUR_CALM, as on the NIOHTTP2 engines.
    private var resets = 0
    private var resetWindowStart: NIODeadline = .now()

    fileprivate func resetReceived() {
        let now = NIODeadline.now()
        if now - resetWindowStart > .seconds(30) {
            resetWindowStart = now
            resets = 0
        }
        resets += 1
        if resets > 200, let session {
            nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        }
    }

    fileprivate func streamClosed(stream id: Int32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.deadline?.cancel()
        if case .sending = stream.phase { inFlight.end() }
        // An answer still being prepared finds its stream gone and ends its count itself.
        if streams.isEmpty {
            if goingAway {
                closeRequested = true  // done by `leave`, once the library has returned
            } else {
                armIdleTimer()
            }
        }
    }

    private func respond(stream id: Int32, request stream: Stream, context: ChannelHandlerContext) {
        inFlight.begin()
        requestCounter &+= 1
        let requestID = StorefrontHandler.requestID(first: stream.requestID) ?? "\(requestIDPrefix)-\(requestCounter)"
        let isHead = stream.method == "HEAD"
        if stream.headerBytes > StorefrontHandler.maximumHeaderBytes {
            let problem = Problem.requestHeadersTooLarge
            answer(
                .problem(problem, instance: "/"), stream: id, request: nil, isHead: isHead, requestID: requestID,
                started: stream.started)
            return
        }
        let request: StorefrontRequest
        switch StorefrontRoute.parse(method: stream.method, uri: stream.path) {
        case .success(let route):
            request = StorefrontRequest(
                route: route, isHead: isHead, ifNoneMatch: stream.ifNoneMatch,
                acceptsGzip: !stream.acceptEncoding.isEmpty && AcceptEncoding.acceptsGzip(stream.acceptEncoding),
                requestID: requestID)
        case .failure(let failure):
            answer(
                .problem(Problem(failure), instance: stream.path), stream: id, request: nil, isHead: isHead,
                requestID: requestID, started: stream.started)
            return
        }
        switch responder.answer(request, on: context.eventLoop) {
        case .now(let response):
            answer(
                response, stream: id, request: request, isHead: isHead, requestID: requestID, started: stream.started)
        case .later(let future):
            let started = stream.started
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                let response = StorefrontResponse.answer(result)
                self.answer(
                    response, stream: id, request: request, isHead: isHead, requestID: requestID, started: started)
            }
        }
    }

    private func answer(
        _ response: StorefrontResponse, stream id: Int32, request: StorefrontRequest?, isHead: Bool,
        requestID: String, started: NIODeadline
    ) {
        guard let session, var stream = streams[id], case .answering = stream.phase else {
            // The stream was reset or the connection closed while the answer was prepared.
            timers.record(
                route: request?.route.name ?? "invalid", cache: response.cacheLabel, status: response.status,
                started: started)
            inFlight.end()
            return
        }
        var status = response.status
        var sendBody = !isHead && response.body.readableBytes > 0
        var dropping: Set<String> = []
        var addLength = !response.hasContentLength
        if status == .ok, let tag = request?.ifNoneMatch, let etag = response.headers.first(name: "etag"),
            StorefrontHandler.matches(tag, etag)
        {
            status = .notModified
            sendBody = false
            dropping = ["content-encoding", "content-length"]
            addLength = false
        }
        timers.record(
            route: request?.route.name ?? "invalid", cache: response.cacheLabel, status: status, started: started)
        buildHeaders(
            status: status, response.headers, dropping: dropping,
            contentLength: addLength ? response.body.readableBytes : nil, requestID: requestID)
        stream.phase = .sending(response.body, sent: 0)
        streams[id] = stream
        let result = withNameValues { nameValues, count in
            if sendBody {
                var provider = nghttp2_data_provider(
                    source: nghttp2_data_source(ptr: nil),
                    read_callback: { session, stream, _, length, flags, _, user in
                        guard let user, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
                        return Unmanaged<NGHTTP2StorefrontHandler>.fromOpaque(user).takeUnretainedValue()
                            .readData(stream: stream, maximum: length, flags: flags)
                    })
                return nghttp2_submit_response(session, id, nameValues, count, &provider)
            }
            stream.phase = .sending(ByteBuffer(), sent: 0)
            streams[id] = stream
            return nghttp2_submit_response(session, id, nameValues, count, nil)
        }
        if result != 0 {
            // The stream's close (after this reset) ends its count, as for every answered stream.
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_INTERNAL_ERROR.rawValue)
        }
        send()
    }

    /// Lays out `:status`, the response's fields (lower-cased, without the ones HTTP/2 forbids),
    /// the length and the request id in the scratch buffer. Fields whose value varies per entry or
    /// request never enter the connection's HPACK table (see `HTTP2StorefrontHandler.indexing`).
    private func buildHeaders(
        status: HTTPResponseStatus, _ fields: HTTPHeaders, dropping: Set<String>, contentLength: Int?,
        requestID: String
    ) {
        headerBytes.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
        append(name: ":status", value: String(status.code), index: true)
        for (name, value) in fields {
            let lowered = name.utf8.contains { $0 >= 65 && $0 <= 90 } ? name.lowercased() : name
            if dropping.contains(lowered) || HTTP2StorefrontHandler.connectionSpecific.contains(lowered) { continue }
            append(name: lowered, value: value, index: HTTP2StorefrontHandler.indexing(lowered) == .indexable)
        }
        if let contentLength { append(name: "content-length", value: String(contentLength), index: false) }
        append(name: "x-request-id", value: requestID, index: false)
    }

    private struct Span {
        var name: Range<Int>
        var value: Range<Int>
        var index: Bool
    }
    private var spans: [Span] = []

    private func append(name: String, value: String, index: Bool) {
        let nameStart = headerBytes.count
        headerBytes.append(contentsOf: name.utf8)
        let valueStart = headerBytes.count
        headerBytes.append(contentsOf: value.utf8)
        spans.append(Span(name: nameStart..<valueStart, value: valueStart..<headerBytes.count, index: index))
    }

    private func withNameValues(_ body: (UnsafePointer<nghttp2_nv>, Int) -> Int32) -> Int32 {
        headerBytes.withUnsafeMutableBufferPointer { bytes in
            let base = bytes.baseAddress!
            nameValues.removeAll(keepingCapacity: true)
            for span in spans {
                nameValues.append(
                    nghttp2_nv(
                        name: base + span.name.lowerBound, value: base + span.value.lowerBound,
                        namelen: span.name.count, valuelen: span.value.count,
                        flags: UInt8(span.index ? NGHTTP2_NV_FLAG_NONE.rawValue : NGHTTP2_NV_FLAG_NO_INDEX.rawValue)))
            }
            return nameValues.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }

    // MARK: - Connection lifetime

    private func armIdleTimer() {
        guard let context, idleTimer == nil, !goingAway else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.idleTimeout) {
            self.idleTimer = nil
            guard let context = self.context, self.streams.isEmpty else { return }
            self.goAway(context: context, error: NGHTTP2_NO_ERROR)
        }
    }

    /// GOAWAY naming the last stream that will be answered; the connection closes once those
    /// are done, or after the shutdown grace if they are not.
    private func goAway(context: ChannelHandlerContext, error: nghttp2_error_code) {
        guard let session, !goingAway else { return }
        goingAway = true
        idleTimer?.cancel()
        idleTimer = nil
        nghttp2_submit_goaway(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
            error.rawValue, nil, 0)
        send()
        guard self.session != nil, context.channel.isActive else { return }  // closed already
        if streams.isEmpty {
            // Give the client the GOAWAY, then close (a client that closes first is fine too).
            closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) {
                self.close(context: context)
            }
        } else {
            closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.shutdownGrace) {
                self.close(context: context)
            }
        }
    }

    /// The GOAWAY code for a fatal library error (RFC 9113 §7).
    static func goAwayCode(for error: Int32) -> UInt32 {
        switch error {
        case NGHTTP2_ERR_FLOODED.rawValue, NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue:
            NGHTTP2_ENHANCE_YOUR_CALM.rawValue
        case NGHTTP2_ERR_HEADER_COMP.rawValue: NGHTTP2_COMPRESSION_ERROR.rawValue
        default: NGHTTP2_PROTOCOL_ERROR.rawValue
        }
    }

    /// Writes a GOAWAY by hand (the session may be unusable) and closes.
    private func goAwayAndClose(context: ChannelHandlerContext, error: UInt32) {
        guard context.channel.isActive else { return }
        writeOutbound(context: context)
        let lastStream = session.map { nghttp2_session_get_last_proc_stream_id($0) } ?? 0
        var frame = context.channel.allocator.buffer(capacity: 17)
        frame.writeBytes([0, 0, 8, UInt8(NGHTTP2_GOAWAY.rawValue), 0, 0, 0, 0, 0])
        frame.writeInteger(UInt32(bitPattern: lastStream) & 0x7FFF_FFFF)
        frame.writeInteger(error)
        context.write(wrapOutboundOut(frame), promise: nil)
        wroteSomething = true
        close(context: context)
    }

    /// Closes once what was written has gone out (the last answers, the GOAWAY), or after the
    /// shutdown grace if the client does not take it.
    private func close(context: ChannelHandlerContext) {
        if depth > 0 {
            closeRequested = true
            return
        }
        guard context.channel.isActive, !closing else { return }
        closing = true
        writeOutbound(context: context)  // the library's last frames (a GOAWAY, an END_STREAM)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: written)
        wroteSomething = false
        let backstop = context.eventLoop.assumeIsolated().scheduleTask(in: settings.shutdownGrace) {
            context.close(promise: nil)
        }
        written.futureResult.assumeIsolated().whenComplete { _ in
            backstop.cancel()
            context.close(promise: nil)
        }
    }

    private func tearDown() {
        tornDown = true
        idleTimer?.cancel()
        idleTimer = nil
        stallTimer?.cancel()
        stallTimer = nil
        closeTimer?.cancel()
        closeTimer = nil
        for stream in streams.values {
            stream.deadline?.cancel()
            if case .sending = stream.phase { inFlight.end() }
        }
        streams.removeAll()
        // The session is freed here only outside the library's calls; inside one (a callback closed
        // the channel), `leave` or `deinit` frees it.
        if let session, depth == 0 {
            nghttp2_session_del(session)
            self.session = nil
        } else if session != nil {
            deleteRequested = true
        }
    }

    // MARK: - The library's session

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        return memcmp(bytes.baseAddress!, literal.utf8Start, bytes.count) == 0
    }

    private static func handler(_ user: UnsafeMutableRawPointer?) -> NGHTTP2StorefrontHandler {
        Unmanaged<NGHTTP2StorefrontHandler>.fromOpaque(user!).takeUnretainedValue()
    }

    private static func makeSession(handler: NGHTTP2StorefrontHandler, settings: ConnectionSettings) -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_send_callback(callbacks) { _, data, length, _, user in
            NGHTTP2StorefrontHandler.handler(user).appendFrameBytes(UnsafeRawBufferPointer(start: data, count: length))
            return length
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, header, length, _, user in
            guard let frame, let header else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            return NGHTTP2StorefrontHandler.handler(user).sendData(
                stream: cnghttp2_frame_stream_id(frame), header: UnsafeRawBufferPointer(start: header, count: 9),
                length: length)
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            guard let frame, cnghttp2_frame_is_request_headers(frame) != 0 else { return 0 }
            return NGHTTP2StorefrontHandler.handler(user).beginHeaders(stream: cnghttp2_frame_stream_id(frame))
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) {
            _, frame, name, nameLength, value, valueLength, _, user in
            guard let frame else { return 0 }
            return NGHTTP2StorefrontHandler.handler(user).header(
                stream: cnghttp2_frame_stream_id(frame), name: UnsafeRawBufferPointer(start: name, count: nameLength),
                value: UnsafeRawBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            guard let frame else { return 0 }
            if cnghttp2_frame_type(frame) == UInt8(NGHTTP2_RST_STREAM.rawValue) {
                NGHTTP2StorefrontHandler.handler(user).resetReceived()
                return 0
            }
            NGHTTP2StorefrontHandler.handler(user).frameReceived(
                stream: cnghttp2_frame_stream_id(frame), type: cnghttp2_frame_type(frame),
                flags: cnghttp2_frame_flags(frame))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, stream, _, user in
            NGHTTP2StorefrontHandler.handler(user).streamClosed(stream: stream)
            return 0
        }
        var options: OpaquePointer?
        guard nghttp2_option_new(&options) == 0, let options else { return nil }
        defer { nghttp2_option_del(options) }
        // The limits NIOHTTP2 is given on the other engines: 5 CONTINUATION frames in a row and
        // a 4 KiB HPACK table for what the server sends.
        nghttp2_option_set_max_continuations(options, 5)
        // The library's own reset limit stays above the gateway's (200 per 30 s, `resetReceived`),
        // which answers with ENHANCE_YOUR_CALM rather than the library's INTERNAL_ERROR.
        nghttp2_option_set_stream_reset_rate_limit(options, 1000, 33)
        nghttp2_option_set_max_deflate_dynamic_table_size(options, 4096)
        var session: OpaquePointer?
        let user = Unmanaged.passUnretained(handler).toOpaque()
        guard nghttp2_session_server_new2(&session, callbacks, user, options) == 0 else { return nil }
        return session
    }
}
