import NIOCore

/// A command encoded as a RESP2 array of bulk strings, ready to write.
public struct RESPCommand: Sendable {
    public let name: String
    public let bytes: ByteBuffer

    /// - Parameters:
    ///   - name: the command (`GET`); also what errors and metrics call it.
    ///   - arguments: its arguments, each a bulk string.
    public init(_ name: String, _ arguments: [RESPArgument] = []) {
        self.name = name
        var buffer = ByteBufferAllocator().buffer(
            capacity: 16 + name.utf8.count + arguments.reduce(0) { $0 + $1.byteCount + 16 })
        buffer.writeStaticString("*")
        buffer.writeString(String(arguments.count + 1))
        buffer.writeStaticString("\r\n")
        Self.appendBulk(name.utf8.count, into: &buffer) { $0.writeString(name) }
        for argument in arguments {
            switch argument {
            case .string(let text): Self.appendBulk(text.utf8.count, into: &buffer) { $0.writeString(text) }
            case .integer(let number):
                let text = String(number)
                Self.appendBulk(text.utf8.count, into: &buffer) { $0.writeString(text) }
            case .bytes(var value):
                Self.appendBulk(value.readableBytes, into: &buffer) { $0.writeBuffer(&value) }
            }
        }
        bytes = buffer
    }

    private static func appendBulk(_ length: Int, into buffer: inout ByteBuffer, _ write: (inout ByteBuffer) -> Void) {
        buffer.writeStaticString("$")
        buffer.writeString(String(length))
        buffer.writeStaticString("\r\n")
        write(&buffer)
        buffer.writeStaticString("\r\n")
    }
}

/// One argument of a command.
public enum RESPArgument: Sendable, ExpressibleByStringLiteral {
    case string(String)
    case integer(Int64)
    case bytes(ByteBuffer)

    public init(stringLiteral value: String) { self = .string(value) }

    var byteCount: Int {
        switch self {
        case .string(let text): text.utf8.count
        case .integer: 20
        case .bytes(let buffer): buffer.readableBytes
        }
    }
}
