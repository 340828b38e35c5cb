import Metrics
import NIOCore

/// The first handler of every connection: sees its raw bytes and enforces `ConnectionTimeouts`.
/// Handlers further in tell it when a request is complete and when its answer was sent, with
/// outbound user events (which travel towards it).
final class ConnectionTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = Any
    typealias OutboundOut = Any

    /// What handlers further in report.
    enum Event: Sendable {
        case requestReceived
        case responseSent
        /// HTTP/2 was chosen: its own connection management takes over.
        case handOver
    }

    private var timeouts: ConnectionTimeouts
    private var timer: Scheduled<Void>?
    private let closed: Counter

    init(readTimeout: TimeAmount, idleTimeout: TimeAmount, listener: String) {
        timeouts = ConnectionTimeouts(readTimeout: readTimeout, idleTimeout: idleTimeout)
        closed = Counter(label: "connections_timed_out_total", dimensions: [("listener", listener)])
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { apply(timeouts.started(), context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        apply(timeouts.started(), context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        apply(timeouts.bytesReceived(), context: context)
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? Event else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch event {
        case .requestReceived: apply(timeouts.requestReceived(), context: context)
        case .responseSent: apply(timeouts.responseSent(), context: context)
        case .handOver: apply(timeouts.handOver(), context: context)
        }
        promise?.succeed(())
    }

    private func apply(_ action: ConnectionTimeouts.Action, context: ChannelHandlerContext) {
        switch action {
        case .arm(let delay):
            timer?.cancel()
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                self.apply(self.timeouts.timerFired(), context: context)
            }
        case .disarm:
            timer?.cancel()
            timer = nil
        case .close:
            timer = nil
            closed.increment()
            context.close(promise: nil)
        case .none:
            break
        }
    }
}
