import CHiredis
import NIOCore

/// Parses RESP2 with hiredis's `redisReader`: feed whatever bytes arrived, take every complete
/// reply, copy it into a `RESPValue` and free it at once. A reader error is permanent.
final class RESPParser {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        reader = redisReaderCreate()!
        // Keep hiredis from compacting its buffer on every feed when replies are large.
        reader.pointee.maxbuf = 1 << 20
    }

    deinit {
        redisReaderFree(reader)
    }

    /// Feeds bytes and returns the replies they complete, in order.
    /// - Throws: `RedisError.protocolViolation` when the stream is not RESP.
    func feed(_ buffer: ByteBuffer) throws -> [RESPValue] {
        let status = buffer.withUnsafeReadableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress else { return REDIS_OK }
            return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        guard status == REDIS_OK else { throw RedisError.protocolViolation(errorText) }
        var replies: [RESPValue] = []
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
                throw RedisError.protocolViolation(errorText)
            }
            guard let raw else { break }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            defer { freeReplyObject(raw) }
            replies.append(Self.value(of: reply))
        }
        return replies
    }

    private var errorText: String {
        chiredis_reader_has_error(reader) != 0 ? String(cString: chiredis_reader_error(reader)) : "unknown reader error"
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            var buffer = ByteBufferAllocator().buffer(capacity: node.len)
            if node.len > 0 {
                buffer.writeBytes(UnsafeRawBufferPointer(start: node.str, count: node.len))
            }
            return .bulkString(buffer)
        case REDIS_REPLY_STATUS:
            return .simpleString(text(node))
        case REDIS_REPLY_ERROR:
            return .error(text(node))
        case REDIS_REPLY_INTEGER:
            return .integer(node.integer)
        case REDIS_REPLY_NIL:
            return .bulkString(nil)
        case REDIS_REPLY_ARRAY:
            guard let elements = node.element else { return .array([]) }
            return .array((0..<node.elements).map { value(of: elements[$0]!) })
        default:
            return .error("unknown reply type \(node.type)")
        }
    }

    private static func text(_ node: redisReply) -> String {
        guard let str = node.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: node.len), as: UTF8.self)
    }
}
