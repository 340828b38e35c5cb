import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The commands the cache needs, over a `RedisConnectionPool`. Every call can name the event loop
/// its future should complete on, so a data-plane handler never leaves its own loop.
public final class RedisClient: Sendable, Service {
    public let pool: RedisConnectionPool
    private let scriptHashes = Mutex<[String: String]>([:])

    public init(
        configuration: RedisConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        pool = RedisConnectionPool(configuration: configuration, group: group, logger: logger)
    }

    /// Keeps the client alive until shutdown, then closes its connections.
    public func run() async throws {
        try? await gracefulShutdown()
        await pool.close()
    }

    public func send(_ command: RESPCommand, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<RESPValue> {
        pool.send(command, on: eventLoop)
    }

    public func ping(on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<Void> {
        send(RESPCommand("PING"), on: eventLoop).map { _ in }
    }

    public func get(_ key: String, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<ByteBuffer?> {
        send(RESPCommand("GET", [.string(key)]), on: eventLoop).map(\.buffer)
    }

    /// `SET key value [PX milliseconds]`.
    public func set(
        _ key: String, _ value: ByteBuffer, expireMilliseconds: Int64? = nil, on eventLoop: (any EventLoop)? = nil
    )
        -> EventLoopFuture<Void>
    {
        var arguments: [RESPArgument] = [.string(key), .bytes(value)]
        if let expireMilliseconds { arguments += ["PX", .integer(expireMilliseconds)] }
        return send(RESPCommand("SET", arguments), on: eventLoop).map { _ in }
    }

    /// Values of many keys in one round trip; `nil` where a key is missing.
    public func mget(_ keys: [String], on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<[ByteBuffer?]> {
        send(RESPCommand("MGET", keys.map { .string($0) }), on: eventLoop).flatMapThrowing { reply in
            guard let values = reply.array else { throw RedisError.protocolViolation("MGET did not return an array") }
            return values.map(\.buffer)
        }
    }

    @discardableResult
    public func del(_ keys: [String], on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<Int64> {
        send(RESPCommand("DEL", keys.map { .string($0) }), on: eventLoop).map { $0.integer ?? 0 }
    }

    public func incr(_ key: String, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<Int64> {
        send(RESPCommand("INCR", [.string(key)]), on: eventLoop).map { $0.integer ?? 0 }
    }

    public func expire(_ key: String, seconds: Int64, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<Bool> {
        send(RESPCommand("EXPIRE", [.string(key), .integer(seconds)]), on: eventLoop).map { $0.integer == 1 }
    }

    @discardableResult
    public func publish(_ channel: String, _ message: String, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<
        Int64
    > {
        send(RESPCommand("PUBLISH", [.string(channel), .string(message)]), on: eventLoop).map { $0.integer ?? 0 }
    }

    /// Runs a Lua script by its SHA1, loading it first when Redis does not know it (`NOSCRIPT`).
    public func evalScript(
        _ source: String, keys: [String], arguments: [RESPArgument], on eventLoop: (any EventLoop)? = nil
    ) -> EventLoopFuture<RESPValue> {
        let known = scriptHashes.withLock { $0[source] }
        let run: @Sendable (String) -> EventLoopFuture<RESPValue> = { sha in
            self.send(
                RESPCommand(
                    "EVALSHA", [.string(sha), .integer(Int64(keys.count))] + keys.map { .string($0) } + arguments),
                on: eventLoop)
        }
        let loadAndRun: @Sendable () -> EventLoopFuture<RESPValue> = {
            self.send(RESPCommand("SCRIPT", ["LOAD", .string(source)]), on: eventLoop).flatMapThrowing { reply in
                guard let sha = reply.string else { throw RedisError.protocolViolation("SCRIPT LOAD returned no hash") }
                self.scriptHashes.withLock { $0[source] = sha }
                return sha
            }.flatMap(run)
        }
        guard let known else { return loadAndRun() }
        let first = run(known)
        return first.flatMapError { error in
            if case RedisError.server(let message) = error, message.hasPrefix("NOSCRIPT") { return loadAndRun() }
            return first.eventLoop.makeFailedFuture(error)
        }
    }
}

extension RedisClient {
    public func get(_ key: String) async throws -> ByteBuffer? { try await get(key, on: nil).get() }
    public func set(_ key: String, _ value: ByteBuffer, expireMilliseconds: Int64? = nil) async throws {
        try await set(key, value, expireMilliseconds: expireMilliseconds, on: nil).get()
    }
    public func mget(_ keys: [String]) async throws -> [ByteBuffer?] { try await mget(keys, on: nil).get() }
    public func incr(_ key: String) async throws -> Int64 { try await incr(key, on: nil).get() }
    public func ping() async throws { try await ping(on: nil).get() }
}
