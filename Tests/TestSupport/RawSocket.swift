import Foundation

/// A plain TCP client with blocking calls run off the cooperative pool: for tests that must send
/// bytes no HTTP client would (half a request, frames out of order) and watch what comes back.
public final class RawSocket: @unchecked Sendable {
    private let fd: Int32
    private let queue = DispatchQueue(label: "raw-socket")

    /// Connects to 127.0.0.1:`port`.
    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            throw Failure(reason: "cannot connect to port \(port): errno \(errno)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    public struct Failure: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// Sends every byte (or fails when the peer closed).
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw Failure(reason: "send failed: errno \(errno)") }
            offset += sent
        }
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// What arrives within `timeout`: the bytes, and whether the peer closed the connection.
    public func receive(for timeout: Duration, until done: @escaping @Sendable ([UInt8]) -> Bool = { _ in false })
        async -> (bytes: [UInt8], closed: Bool)
    {
        let fd = self.fd
        return await withCheckedContinuation { continuation in
            queue.async {
                var received: [UInt8] = []
                let deadline = ContinuousClock.now + timeout
                var buffer = [UInt8](repeating: 0, count: 65536)
                while ContinuousClock.now < deadline {
                    let left = deadline - ContinuousClock.now
                    let milliseconds = max(
                        1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&poller, 1, milliseconds)
                    if ready <= 0 { continue }
                    let count = recv(fd, &buffer, buffer.count, 0)
                    if count <= 0 {
                        continuation.resume(returning: (received, true))
                        return
                    }
                    received += buffer[0..<count]
                    if done(received) {
                        continuation.resume(returning: (received, false))
                        return
                    }
                }
                continuation.resume(returning: (received, false))
            }
        }
    }
}

/// HTTP/2 frames written and read by hand (RFC 9113), with header blocks as HPACK literals
/// without indexing (RFC 7541 6.2.2), which every decoder accepts.
public enum H2 {
    public static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    public enum FrameType: UInt8, Sendable {
        case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4, pushPromise = 5, ping = 6, goAway = 7
        case windowUpdate = 8, continuation = 9
    }

    public struct Frame: Sendable, CustomStringConvertible {
        public var type: UInt8
        public var flags: UInt8
        public var stream: UInt32
        public var payload: [UInt8]

        public var kind: FrameType? { FrameType(rawValue: type) }
        /// GOAWAY's or RST_STREAM's error code.
        public var errorCode: UInt32? {
            switch kind {
            case .goAway where payload.count >= 8: Self.uint32(payload, at: 4)
            case .rstStream where payload.count >= 4: Self.uint32(payload, at: 0)
            default: nil
            }
        }

        static func uint32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
            bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }

        public var description: String {
            "\(kind.map { "\($0)" } ?? "type \(type)") stream \(stream) flags \(flags) \(payload.count) bytes"
        }
    }

    public static func frame(_ type: FrameType, flags: UInt8 = 0, stream: UInt32, payload: [UInt8] = []) -> [UInt8] {
        let length = payload.count
        var bytes: [UInt8] = [
            UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type.rawValue, flags,
        ]
        bytes += [
            UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF),
        ]
        return bytes + payload
    }

    public static let endStream: UInt8 = 0x1
    public static let endHeaders: UInt8 = 0x4
    public static let ack: UInt8 = 0x1

    /// SETTINGS with the given (identifier, value) pairs.
    public static func settings(_ values: [(UInt16, UInt32)] = []) -> [UInt8] {
        var payload: [UInt8] = []
        for (identifier, value) in values {
            payload += [UInt8(identifier >> 8), UInt8(identifier & 0xFF)]
            payload += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        return frame(.settings, stream: 0, payload: payload)
    }

    /// An HPACK integer with an `prefix`-bit prefix (RFC 7541 5.1), `first` holding the high bits.
    public static func integer(_ value: Int, prefix: Int, first: UInt8 = 0) -> [UInt8] {
        let limit = (1 << prefix) - 1
        if value < limit { return [first | UInt8(value)] }
        var bytes = [first | UInt8(limit)]
        var rest = value - limit
        while rest >= 128 {
            bytes.append(UInt8(rest % 128 + 128))
            rest /= 128
        }
        bytes.append(UInt8(rest))
        return bytes
    }

    /// A header block of literals without indexing.
    public static func block(_ headers: [(String, String)]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (name, value) in headers {
            bytes.append(0x00)
            bytes += integer(name.utf8.count, prefix: 7) + Array(name.utf8)
            bytes += integer(value.utf8.count, prefix: 7) + Array(value.utf8)
        }
        return bytes
    }

    /// The headers of a GET on `path`.
    public static func get(_ path: String, authority: String = "127.0.0.1", extra: [(String, String)] = []) -> [UInt8] {
        block([(":method", "GET"), (":scheme", "http"), (":authority", authority), (":path", path)] + extra)
    }

    /// The frames in `bytes` (a trailing partial frame is left out).
    public static func frames(in bytes: [UInt8]) -> [Frame] {
        var frames: [Frame] = []
        var offset = 0
        while offset + 9 <= bytes.count {
            let length = Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            guard offset + 9 + length <= bytes.count else { break }
            let stream = Frame.uint32(bytes, at: offset + 5) & 0x7FFF_FFFF
            frames.append(
                Frame(
                    type: bytes[offset + 3], flags: bytes[offset + 4], stream: stream,
                    payload: Array(bytes[offset + 9..<offset + 9 + length])))
            offset += 9 + length
        }
        return frames
    }
}
