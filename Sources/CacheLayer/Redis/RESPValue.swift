import NIOCore

/// A RESP2 reply, copied out of hiredis into Swift values.
public enum RESPValue: Sendable, Hashable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    /// A bulk string; `nil` is RESP's null bulk string (a missing key).
    case bulkString(ByteBuffer?)
    /// An array; `nil` is RESP's null array.
    case array([RESPValue]?)

    /// The bytes of a bulk or simple string, `nil` for null or any other type.
    public var buffer: ByteBuffer? {
        switch self {
        case .bulkString(let buffer): buffer
        case .simpleString(let text): ByteBuffer(string: text)
        default: nil
        }
    }

    public var string: String? {
        switch self {
        case .bulkString(let buffer?): String(buffer: buffer)
        case .simpleString(let text): text
        default: nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString(let buffer?): Int64(String(buffer: buffer))
        default: nil
        }
    }

    public var array: [RESPValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}
