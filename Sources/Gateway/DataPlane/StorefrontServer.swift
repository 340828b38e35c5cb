import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import ServiceLifecycle

/// The storefront listener (data plane): HTTP/1.1 and h2c on one plaintext port, built directly
/// on SwiftNIO because it is the hot path.
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

    public init(
        host: String, port: Int, responder: any StorefrontResponder, logger: Logger, tls: NIOSSLContext? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.tls = tls
        self.host = host
        self.requestedPort = port
        self.responder = responder
        self.group = group
        self.logger = logger
        self.boundPromise = group.next().makePromise(of: Int.self)
    }

    /// The port the server listens on, once it does (useful with port 0).
    public var port: Int {
        get async throws { try await boundPromise.futureResult.get() }
    }

    public func run() async throws {
        let responder = self.responder
        let inFlight = self.inFlight
        let tls = self.tls
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                            let negotiation = ApplicationProtocolNegotiationHandler { result, channel in
                                channel.eventLoop.makeCompletedFuture {
                                    let decision: HTTPVersionDetector.Decision =
                                        if case .negotiated("h2") = result { .http2 } else { .http1 }
                                    try Self.configure(
                                        channel, decision: decision, responder: responder, inFlight: inFlight)
                                }
                            }
                            try channel.pipeline.syncOperations.addHandler(negotiation)
                        } else {
                            let detector = HTTPVersionDetector { channel, decision in
                                try Self.configure(
                                    channel, decision: decision, responder: responder, inFlight: inFlight)
                            }
                            try channel.pipeline.syncOperations.addHandler(detector)
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
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await channel.closeFuture.get()
            } onGracefulShutdown: {
                channel.close(promise: nil)
            }
        } onCancel: {
            channel.close(promise: nil)
        }
        // Stopped accepting: let the requests being answered finish (bounded).
        for _ in 0..<100 where inFlight.current > 0 { try? await Task.sleep(for: .milliseconds(50)) }
        logger.info("storefront stopped")
    }

    static func configure(
        _ channel: any Channel, decision: HTTPVersionDetector.Decision, responder: any StorefrontResponder,
        inFlight: InFlightRequests
    ) throws {
        let operations = channel.pipeline.syncOperations
        switch decision {
        case .http2:
            _ = try operations.configureHTTP2Pipeline(
                mode: .server,
                connectionConfiguration: .init(),
                streamConfiguration: .init()
            ) { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandlers([
                        HTTP2FramePayloadToHTTP1ServerCodec(),
                        StorefrontHandler(responder: responder, inFlight: inFlight),
                    ])
                }
            }
        case .http1, .needMoreBytes:
            try operations.configureHTTPServerPipeline(withErrorHandling: true)
            try operations.addHandler(StorefrontHandler(responder: responder, inFlight: inFlight))
        }
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
        return try NIOSSLContext(configuration: configuration)
    }
}
