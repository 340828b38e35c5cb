import NIOCore
import NIOEmbedded
import Testing

@testable import CacheLayer

/// The handler on an in-memory channel: no server.
@Suite struct RedisChannelHandlerTests {
    func makeChannel(timeout: TimeAmount = .seconds(1)) async throws -> NIOAsyncTestingChannel {
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(RedisChannelHandler(commandTimeout: timeout))
        return channel
    }

    @Test func pipelinesCommandsAndMatchesRepliesSplitAcrossReads() async throws {
        let channel = try await makeChannel()
        let first = channel.eventLoop.makePromise(of: RESPValue.self)
        let second = channel.eventLoop.makePromise(of: RESPValue.self)
        try await channel.writeOutbound(RedisRequest(command: RESPCommand("GET", ["a"]), promise: first))
        try await channel.writeOutbound(RedisRequest(command: RESPCommand("GET", ["b"]), promise: second))
        let written = try await channel.readOutbound(as: ByteBuffer.self)
        #expect(written.map { String(buffer: $0) } == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
        try await channel.writeInbound(ByteBuffer(string: "$3\r\nfo"))
        try await channel.writeInbound(ByteBuffer(string: "o\r\n$-1"))
        #expect(try await first.futureResult.get() == .bulkString(ByteBuffer(string: "foo")))
        try await channel.writeInbound(ByteBuffer(string: "\r\n"))
        #expect(try await second.futureResult.get() == .bulkString(nil))
        _ = try await channel.finish()
    }

    @Test func anErrorReplyFailsOnlyItsCommand() async throws {
        let channel = try await makeChannel()
        let bad = channel.eventLoop.makePromise(of: RESPValue.self)
        let good = channel.eventLoop.makePromise(of: RESPValue.self)
        try await channel.writeOutbound(RedisRequest(command: RESPCommand("INCR", ["text"]), promise: bad))
        try await channel.writeOutbound(RedisRequest(command: RESPCommand("PING"), promise: good))
        try await channel.writeInbound(ByteBuffer(string: "-WRONGTYPE not a number\r\n+PONG\r\n"))
        await #expect(throws: RedisError.server("WRONGTYPE not a number")) { try await bad.futureResult.get() }
        #expect(try await good.futureResult.get() == .simpleString("PONG"))
        _ = try await channel.finish()
    }

    @Test func aTimeoutFailsAllPendingCommandsAndClosesTheChannel() async throws {
        let channel = try await makeChannel(timeout: .milliseconds(200))
        let promises = (0..<3).map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        for promise in promises {
            try await channel.writeOutbound(RedisRequest(command: RESPCommand("GET", ["slow"]), promise: promise))
        }
        await channel.testingEventLoop.advanceTime(by: .milliseconds(250))
        for promise in promises {
            await #expect(throws: RedisError.timeout(command: "GET")) { try await promise.futureResult.get() }
        }
        #expect(!channel.isActive)
    }

    @Test func closingTheConnectionFailsPendingCommands() async throws {
        let channel = try await makeChannel()
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        try await channel.writeOutbound(RedisRequest(command: RESPCommand("GET", ["x"]), promise: promise))
        try await channel.close()
        await #expect(throws: RedisError.self) { try await promise.futureResult.get() }
    }
}
