import NIOCore
import NIOPosix

/// One pipelined connection to Redis.
public final class RedisConnection: Sendable {
    public let channel: any Channel

    init(channel: any Channel) {
        self.channel = channel
    }

    public var eventLoop: any EventLoop { channel.eventLoop }
    public var isActive: Bool { channel.isActive }

    /// Connects to `node` (the first seed by default), authenticates and selects the database from
    /// the configuration.
    public static func connect(
        configuration: RedisConfiguration, node: RedisNodeAddress? = nil, on eventLoop: any EventLoop
    ) -> EventLoopFuture<RedisConnection> {
        let node = node ?? configuration.nodes[0]
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RedisChannelHandler(commandTimeout: configuration.commandTimeout))
                }
            }
            .connect(host: node.host, port: node.port)
            .flatMap { channel in
                let connection = RedisConnection(channel: channel)
                var setup: EventLoopFuture<Void> = channel.eventLoop.makeSucceededVoidFuture()
                if let password = configuration.password {
                    let arguments: [RESPArgument] =
                        configuration.username.map { [.string($0), .string(password)] } ?? [.string(password)]
                    setup = setup.flatMap { connection.send(RESPCommand("AUTH", arguments)).map { _ in } }
                }
                if configuration.database != 0 {
                    setup = setup.flatMap {
                        connection.send(RESPCommand("SELECT", [.integer(Int64(configuration.database))])).map { _ in }
                    }
                }
                return setup.map { connection }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
            }
            .flatMapErrorThrowing { error in
                if error is RedisError { throw error }
                throw RedisError.unavailable("cannot connect to \(node): \(error)")
            }
    }

    /// Sends a command; the future completes on the connection's event loop.
    public func send(_ command: RESPCommand) -> EventLoopFuture<RESPValue> {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        // A write that never reaches the handler (the channel already closed) must still fail the
        // command; completing a promise twice is a no-op, so both paths may try.
        written.futureResult.whenFailure { error in
            promise.fail(RedisError.connectionClosed("\(error)"))
        }
        channel.writeAndFlush(RedisRequest(command: command, promise: promise), promise: written)
        return promise.futureResult
    }

    public func close() -> EventLoopFuture<Void> {
        channel.close()
    }
}

extension RedisRequest: @unchecked Sendable {}
