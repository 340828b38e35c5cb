import NIOCore

/// Tells HTTP/2 with prior knowledge (h2c) from HTTP/1.1 on one plaintext port by the first bytes
/// of the connection, then installs the matching pipeline and steps aside.
final class HTTPVersionDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The HTTP/2 connection preface (RFC 9113, 3.4).
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Decision: Equatable {
        case http1
        case http2
        case needMoreBytes
    }

    private var buffered: ByteBuffer?
    private let configure: (Channel, Decision) throws -> Void

    init(configure: @escaping (Channel, Decision) throws -> Void) {
        self.configure = configure
    }

    /// Decides from the bytes seen so far: HTTP/1.1 as soon as they stop matching the preface.
    static func decide(_ bytes: ByteBufferView) -> Decision {
        var index = 0
        for byte in bytes {
            if index == preface.count { break }
            if byte != preface[index] { return .http1 }
            index += 1
        }
        return index == preface.count ? .http2 : .needMoreBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if var buffered {
            buffered.writeBuffer(&incoming)
            self.buffered = buffered
        } else {
            buffered = incoming
        }
        let decision = Self.decide(buffered!.readableBytesView)
        guard decision != .needMoreBytes else { return }
        do {
            try configure(context.channel, decision)
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        let bytes = buffered!
        buffered = nil
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        buffered = nil
        context.fireChannelInactive()
    }
}
