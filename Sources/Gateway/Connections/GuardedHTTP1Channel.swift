import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Hummingbird's HTTP/1.1 child channel with the same bounds as the storefront: a limit on open
/// connections, a read timeout from a request's first byte to its last (Hummingbird's own idle
/// timeout only counts complete request parts, so a head sent a byte at a time would hold the
/// connection open), an idle timeout, and header limits.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let inner: HTTP1Channel
    let limiter: ConnectionLimiter
    let settings: ConnectionSettings

    init(responder: @escaping HTTPChannelHandler.Responder, settings: ConnectionSettings, limiter: ConnectionLimiter) {
        var configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestBoundaryHandler()], idleTimeout: settings.idleTimeout)
        configuration.httpDecoder = .init(
            maxHeaderFieldSize: StorefrontHandler.maximumHeaderBytes,
            maxHeaderListSize: StorefrontHandler.maximumHeaderBytes, maxHeaderFieldCount: 200)
        inner = HTTP1Channel(responder: responder, configuration: configuration)
        self.limiter = limiter
        self.settings = settings
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard limiter.admit(channel) else {
            return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        do {
            try channel.pipeline.syncOperations.addHandler(
                ConnectionTimeoutHandler(
                    readTimeout: settings.readTimeout, idleTimeout: settings.idleTimeout, listener: "admin"),
                position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Tells `ConnectionTimeoutHandler` where Hummingbird's requests begin and end.
final class RequestBoundaryHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            context.triggerUserOutboundEvent(ConnectionTimeoutHandler.Event.requestReceived, promise: nil)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        let written = promise ?? context.eventLoop.makePromise()
        context.write(data, promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.triggerUserOutboundEvent(ConnectionTimeoutHandler.Event.responseSent, promise: nil)
        }
    }
}
