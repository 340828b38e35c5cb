import NIOCore
import NIOHPACK
import NIOHTTP2

/// Sends a stream's response headers as literals that never enter the connection's HPACK dynamic
/// table. A client may allow the server's table to grow to 4 GiB (SETTINGS_HEADER_TABLE_SIZE);
/// with indexing on, every distinct header value the server sends on that connection (each
/// request id, each ETag) would be kept for its whole life. Indexed static-table names still
/// compress; nothing per-connection is kept.
final class NonIndexingHeaders: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .headers(var headers) = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        var literal = HPACKHeaders()
        literal.reserveCapacity(headers.headers.count)
        for (name, value, _) in headers.headers { literal.add(name: name, value: value, indexing: .nonIndexable) }
        headers.headers = literal
        context.write(wrapOutboundOut(.headers(headers)), promise: promise)
    }
}
