import NIOCore
import NIOHTTP1

/// Answers a request the HTTP/1.1 parser refused, then closes: 431 when its head is larger than
/// the limits, 400 for anything else malformed. Like NIO's own error handler, it stays silent when
/// a response is already being sent (the bytes on the wire would be garbled).
final class HTTP1ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = Never
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInProgress = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !responseInProgress {
            let problem: Problem =
                parserError == .headerOverflow
                ? Problem(
                    status: .requestHeaderFieldsTooLarge, title: "Request Header Fields Too Large",
                    detail:
                        "the request's headers are larger than \(StorefrontHandler.maximumHeaderBytes / 1024) KiB in all"
                )
                : .badRequest("the request is not valid HTTP/1.1 (\(parserError))")
            let body = problem.body(instance: "/")
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/problem+json")
            headers.add(name: "content-length", value: String(body.count))
            headers.add(name: "connection", value: "close")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: problem.status, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responseInProgress = true
        case .end: responseInProgress = false
        case .body: break
        }
        context.write(data, promise: promise)
    }
}
