import Logging
import NIOCore
import NIOHTTP1
import NIOExtras
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import ServiceLifecycle

/// How the storefront's listeners treat connections.
public struct ConnectionSettings: Sendable, Hashable {
    /// From a request's first byte to its last (HTTP/1.1), or a stream's whole request (HTTP/2).
    public var readTimeout: TimeAmount = .seconds(10)
    /// Between requests, before a connection is closed (HTTP/2: GOAWAY).
    public var idleTimeout: TimeAmount = .seconds(60)
    /// Open connections per listener; one more is closed at once and counted.
    public var maximumConnections = 10_000
    /// HTTP/2 streams open at once per connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    public var maximumConcurrentStreams = 100
    /// How long graceful shutdown waits for answers in flight before closing what is left.
    public var shutdownGrace: TimeAmount = .seconds(10)
    /// How HTTP/2 streams are served (h2c and h2).
    public var http2Engine: HTTP2Engine = .nghttp2

    public enum HTTP2Engine: String, Sendable, Hashable, CaseIterable {
        /// Frames answered on the connection's pipeline (`HTTP2StorefrontHandler`).
        case frames
        /// A child channel per stream with HTTP/1 messages (`HTTP2FramePayloadToHTTP1ServerCodec`).
        case streams
        /// libnghttp2's session instead of NIOHTTP2 (`NGHTTP2StorefrontHandler`).
        case nghttp2
    }

    public init() {}
}

/// The storefront listener (data plane): HTTP/1.1 and h2c on one plaintext port, built directly
/// on SwiftNIO because it is the hot path.
///
/// Every connection is bounded: a limit on open connections per listener, a read timeout from a
/// request's first byte to its last, an idle timeout between requests, 431 for headers over
/// 16 KiB, HTTP/2 with bounded streams, resets, CONTINUATION runs and header lists, keep-alive
/// pings and an idle GOAWAY. Graceful shutdown stops accepting, closes idle connections, sends
/// GOAWAY on HTTP/2 and lets the answers in flight finish.
public final class StorefrontServer: Service, Sendable {
    public let host: String
    public let requestedPort: Int
    private let responder: any StorefrontResponder
    private let group: any EventLoopGroup
    private let logger: Logger
    private let inFlight = InFlightRequests()
    private let boundPromise: EventLoopPromise<Int>
    /// With a TLS context the port speaks TLS and picks h2 or http/1.1 by ALPN; without, it serves
    /// HTTP/1.1 and h2c told apart by the connection preface.
    private let tls: NIOSSLContext?
    private let settings: ConnectionSettings
    private let limiter: ConnectionLimiter
    private let listener: String

    public init(
        host: String, port: Int, responder: any StorefrontResponder, logger: Logger, tls: NIOSSLContext? = nil,
        settings: ConnectionSettings = ConnectionSettings(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.tls = tls
        self.host = host
        self.requestedPort = port
        self.responder = responder
        self.group = group
        self.logger = logger
        self.settings = settings
        self.listener = tls == nil ? "storefront" : "storefront_tls"
        self.limiter = ConnectionLimiter(maximum: settings.maximumConnections, listener: listener)
        self.boundPromise = group.next().makePromise(of: Int.self)
    }

    /// The port the server listens on, once it does (useful with port 0).
    public var port: Int {
        get async throws { try await boundPromise.futureResult.get() }
    }

    /// Connections open now.
    public var openConnections: Int { limiter.current }

    public func run() async throws {
        let responder = self.responder
        let inFlight = self.inFlight
        let tls = self.tls
        let settings = self.settings
        let limiter = self.limiter
        let listener = self.listener
        let quiesce = ServerQuiescingHelper(group: group)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            quiesce.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        guard limiter.admit(channel) else { return }
                        let operations = channel.pipeline.syncOperations
                        try operations.addHandler(
                            ConnectionTimeoutHandler(
                                readTimeout: settings.readTimeout, idleTimeout: settings.idleTimeout, listener: listener
                            ))
                        if let tls {
                            try operations.addHandler(NIOSSLServerHandler(context: tls))
                            let negotiation = ApplicationProtocolNegotiationHandler { result, channel in
                                channel.eventLoop.makeCompletedFuture {
                                    let decision: HTTPVersionDetector.Decision =
                                        if case .negotiated("h2") = result { .http2 } else { .http1 }
                                    try Self.configure(
                                        channel, decision: decision, responder: responder, inFlight: inFlight,
                                        settings: settings)
                                }
                            }
                            try operations.addHandler(negotiation)
                        } else {
                            let detector = HTTPVersionDetector { channel, decision in
                                try Self.configure(
                                    channel, decision: decision, responder: responder, inFlight: inFlight,
                                    settings: settings)
                            }
                            try operations.addHandler(detector)
                        }
                    }
                }
                .bind(host: host, port: requestedPort)
                .get()
        } catch {
            boundPromise.fail(error)
            throw error
        }
        let port = channel.localAddress?.port ?? requestedPort
        boundPromise.succeed(port)
        logger.info(
            "storefront listening",
            metadata: [
                "address": "\(host):\(port)",
                "protocols": "\(tls == nil ? "http/1.1, h2c" : "TLS: h2, http/1.1 (ALPN)")",
            ])
        let drained = channel.eventLoop.makePromise(of: Void.self)
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await channel.closeFuture.get()
            } onGracefulShutdown: {
                // Stop accepting; close idle connections; GOAWAY on HTTP/2; finish answers in flight.
                quiesce.initiateShutdown(promise: drained)
            }
        } onCancel: {
            channel.close(promise: nil)
            drained.succeed(())
        }
        let grace = channel.eventLoop.scheduleTask(in: settings.shutdownGrace) { drained.succeed(()) }
        try? await drained.futureResult.get()
        grace.cancel()
        if inFlight.current > 0 {
            logger.warning(
                "storefront stopped with answers still in flight", metadata: ["count": "\(inFlight.current)"])
        }
        logger.info("storefront stopped")
    }

    static func configure(
        _ channel: any Channel, decision: HTTPVersionDetector.Decision, responder: any StorefrontResponder,
        inFlight: InFlightRequests, settings: ConnectionSettings
    ) throws {
        let operations = channel.pipeline.syncOperations
        switch decision {
        case .http2 where settings.http2Engine == .nghttp2:
            channel.triggerUserOutboundEvent(ConnectionTimeoutHandler.Event.handOver, promise: nil)
            try operations.addHandler(
                NGHTTP2StorefrontHandler(responder: responder, inFlight: inFlight, settings: settings))
        case .http2:
            channel.triggerUserOutboundEvent(ConnectionTimeoutHandler.Event.handOver, promise: nil)
            let management = NIOHTTP2ServerConnectionManagementHandler(
                eventLoop: channel.eventLoop,
                configuration: .init(
                    maxIdleTime: settings.idleTimeout, maxAge: nil, maxGraceTime: settings.shutdownGrace,
                    keepalive: .init(pingInterval: .seconds(30), ackTimeout: .seconds(10))))
            let http2: NIOHTTP2Handler
            switch settings.http2Engine {
            case .frames, .nghttp2:
                http2 = NIOHTTP2Handler(
                    mode: .server, connectionConfiguration: Self.http2Connection(settings),
                    streamConfiguration: Self.http2Streams)
            case .streams:
                http2 = NIOHTTP2Handler(
                    mode: .server, eventLoop: channel.eventLoop,
                    connectionConfiguration: Self.http2Connection(settings), streamConfiguration: Self.http2Streams,
                    streamDelegate: management.http2StreamDelegate
                ) { stream in
                    stream.eventLoop.makeCompletedFuture {
                        try stream.pipeline.syncOperations.addHandlers([
                            NonIndexingHeaders(),
                            HTTP2FramePayloadToHTTP1ServerCodec(),
                            StorefrontHandler(
                                responder: responder, inFlight: inFlight, isStream: true,
                                readTimeout: settings.readTimeout),
                        ])
                    }
                }
            }
            try operations.addHandler(http2)
            try operations.addHandler(GoAwayAckDeadline(ackTimeout: .seconds(5)))
            try operations.addHandler(management)
            // The channel is active already: its timers (idle GOAWAY, keepalive) start on a
            // channelActive replayed to it, or a connection that never finishes a stream would
            // never be told to go away.
            try operations.addHandler(ReplayChannelActive(), position: .before(management))
            try operations.addHandler(CloseOnConnectionError())
            if settings.http2Engine == .frames {
                try operations.addHandler(
                    HTTP2StorefrontHandler(responder: responder, inFlight: inFlight, readTimeout: settings.readTimeout))
            }
        case .http1, .needMoreBytes:
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderListSize = StorefrontHandler.maximumHeaderBytes
            limits.maxHeaderFieldSize = StorefrontHandler.maximumHeaderBytes
            limits.maxHeaderFieldCount = 200
            try operations.configureHTTPServerPipeline(
                withPipeliningAssistance: true, withErrorHandling: false, withOutboundHeaderValidation: true,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try operations.addHandler(HTTP1ProtocolErrorHandler())
            try operations.addHandler(
                StorefrontHandler(
                    responder: responder, inFlight: inFlight, isStream: false, readTimeout: settings.readTimeout))
        }
    }

    /// HTTP/2 limits (RFC 9113 and the known floods): at most `maximumConcurrentStreams` streams
    /// (more are refused with REFUSED_STREAM), header lists up to 64 KiB decoded (over 16 KiB are
    /// answered 431; over 64 KiB the connection ends with COMPRESSION_ERROR), a 4 KiB HPACK table,
    /// at most 5 CONTINUATION frames in a row, and the library's rate limits on resets (rapid
    /// reset, CVE-2023-44487), stream errors and control frames.
    static func http2Connection(_ settings: ConnectionSettings) -> NIOHTTP2Handler.ConnectionConfiguration {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: settings.maximumConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 64 * 1024),
            HTTP2Setting(parameter: .headerTableSize, value: 4096),
        ]
        configuration.maximumSequentialContinuationFrames = 5
        return configuration
    }

    static var http2Streams: NIOHTTP2Handler.StreamConfiguration {
        var configuration = NIOHTTP2Handler.StreamConfiguration()
        configuration.streamResetFrameRateLimit.maximumCount = 200
        configuration.streamResetFrameRateLimit.windowLength = .seconds(30)
        return configuration
    }
}

/// Delivers `channelActive` once more to the handlers after it, then leaves: for handlers added
/// to a connection that is already active.
final class ReplayChannelActive: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.fireChannelActive() }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Closes an HTTP/2 connection once the protocol has failed it (after NIOHTTP2 sent its GOAWAY):
/// a client must not be left waiting on a connection that will never answer again.
final class CloseOnConnectionError: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOHTTP2Errors.StreamError {
            return  // one stream failed (it was reset); the connection goes on
        }
        context.close(promise: nil)
    }
}

extension StorefrontServer {
    /// A server TLS context from PEM files, offering h2 and http/1.1 by ALPN.
    public static func tlsContext(certificatePath: String, keyPath: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(key))
        configuration.applicationProtocols = ["h2", "http/1.1"]
        // RFC 8996: no TLS 1.0 or 1.1; TLS 1.2 only with ECDHE key exchange and AEAD ciphers
        // (TLS 1.3 suites are all AEAD and preferred by negotiation).
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = [
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        ].joined(separator: ":")
        return try NIOSSLContext(configuration: configuration)
    }
}
