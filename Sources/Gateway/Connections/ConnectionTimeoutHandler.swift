import Metrics
import NIOCore

/// The first handler of every connection: sees its raw bytes and enforces `ConnectionTimeouts`.
/// Handlers further in tell it when a request is complete and when its answer was sent, with
/// outbound user events (which travel towards it) or, on the hot path, by calling
/// `requestReceived()` and `responseSent()` directly.
///
/// One timer per connection, moved lazily: arming only records a deadline, and the timer, which
/// never sleeps longer than the shorter timeout, checks it when it fires (closing, or sleeping
/// again until the deadline). A keep-alive connection answering thousands of requests a second
/// schedules a timer every few seconds, not two per request.
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
    private var timerFiresAt: NIODeadline?
    /// When the connection is closed unless something happens first (nil: no timeout runs).
    private var deadline: NIODeadline?
    /// The longest the timer sleeps before looking at the deadline again.
    private let step: TimeAmount
    private let closed: Counter
    private var context: ChannelHandlerContext?

    init(readTimeout: TimeAmount, idleTimeout: TimeAmount, listener: String) {
        timeouts = ConnectionTimeouts(readTimeout: readTimeout, idleTimeout: idleTimeout)
        step = min(readTimeout, idleTimeout)
        closed = Counter(label: "connections_timed_out_total", dimensions: [("listener", listener)])
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { apply(timeouts.started(), context: context) }
    }

    /// A request is complete (the same as the `requestReceived` event, without its trip down the pipeline).
    func requestReceived() {
        if let context { apply(timeouts.requestReceived(), context: context) }
    }

    /// A request's answer was written (as the `responseSent` event).
    func responseSent() {
        if let context { apply(timeouts.responseSent(), context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        apply(timeouts.started(), context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimer()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimer()
        self.context = nil
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
        timerFiresAt = nil
        deadline = nil
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
            let now = NIODeadline.now()
            let due = now + delay
            deadline = due
            // A timer that fires by then looks at the deadline when it does.
            if let firesAt = timerFiresAt, firesAt <= due { return }
            schedule(at: min(due, now + step), context: context)
        case .disarm:
            deadline = nil  // a running timer finds nothing due and stops
        case .close:
            stopTimer()
            closed.increment()
            context.close(promise: nil)
        case .none:
            break
        }
    }

    private func schedule(at time: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        timerFiresAt = time
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: time) {
            self.timer = nil
            self.timerFiresAt = nil
            guard let deadline = self.deadline else { return }
            let now = NIODeadline.now()
            if now >= deadline {
                self.deadline = nil
                self.apply(self.timeouts.timerFired(), context: context)
            } else {
                self.schedule(at: min(deadline, now + self.step), context: context)
            }
        }
    }
}
