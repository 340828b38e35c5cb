import NIOCore
import NIOHTTP2

/// Closes an HTTP/2 connection whose client does not answer the PING that follows the server's
/// first GOAWAY (idle timeout or shutdown) within `ackTimeout`.
///
/// `NIOHTTP2ServerConnectionManagementHandler` closes gracefully in two steps: GOAWAY with the
/// largest stream id and a PING, then, once the PING is acknowledged, the final GOAWAY and its
/// grace timer. Its keep-alive timers stop at the first step and the grace timer starts only at the
/// second, so a client that never acknowledges (a stalled or hostile one) would hold the
/// connection forever. Sits between `NIOHTTP2Handler` and the management handler.
final class GoAwayAckDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let ackTimeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var acknowledged = false

    init(ackTimeout: TimeAmount) {
        self.ackTimeout = ackTimeout
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        if case .goAway = frame.payload, deadline == nil, !acknowledged {
            deadline = context.eventLoop.scheduleTask(in: ackTimeout) { [weak context] in
                context?.close(promise: nil)
            }
        }
        context.write(data, promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if case .ping(_, ack: true) = frame.payload, let deadline {
            // The client has seen the GOAWAY: the management handler's grace period takes over.
            deadline.cancel()
            self.deadline = nil
            acknowledged = true
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}
