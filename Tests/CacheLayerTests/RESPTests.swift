import NIOCore
import Testing

@testable import CacheLayer

@Suite struct RESPTests {
    @Test func encodesCommandsAsArraysOfBulkStrings() {
        let command = RESPCommand("SET", ["key", .integer(42), .bytes(ByteBuffer(string: "a\r\nb"))])
        #expect(String(buffer: command.bytes) == "*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n42\r\n$4\r\na\r\nb\r\n")
    }

    @Test func parsesRepliesSplitAcrossReads() throws {
        let parser = RESPParser()
        let stream = "+OK\r\n:-7\r\n$5\r\nhello\r\n$-1\r\n-ERR boom\r\n*2\r\n*1\r\n$1\r\nx\r\n:3\r\n*-1\r\n$0\r\n\r\n"
        var replies: [RESPValue] = []
        // Feed one byte at a time: every boundary is a partial reply somewhere.
        for byte in stream.utf8 { replies += try parser.feed(ByteBuffer(bytes: [byte])) }
        #expect(
            replies == [
                .simpleString("OK"), .integer(-7), .bulkString(ByteBuffer(string: "hello")), .bulkString(nil),
                .error("ERR boom"), .array([.array([.bulkString(ByteBuffer(string: "x"))]), .integer(3)]),
                .bulkString(nil),  // hiredis reports a null array as nil, like a null bulk string
                .bulkString(ByteBuffer()),
            ])
    }

    @Test func aBinaryBulkStringSurvivesIntact() throws {
        let payload: [UInt8] = (0...255).map(UInt8.init)
        var wire = ByteBuffer(string: "$256\r\n")
        wire.writeBytes(payload)
        wire.writeString("\r\n")
        let replies = try RESPParser().feed(wire)
        #expect(replies == [.bulkString(ByteBuffer(bytes: payload))])
    }

    @Test func garbageIsAProtocolViolation() {
        #expect(throws: RedisError.self) { try RESPParser().feed(ByteBuffer(string: "?what\r\n")) }
    }
}
