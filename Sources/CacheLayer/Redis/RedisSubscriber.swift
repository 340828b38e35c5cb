import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A dedicated connection subscribed to one channel, reconnecting with backoff. It tells its owner
/// when it is up and when it went down, because a subscriber that missed messages must assume it
/// missed invalidations.
///
/// "Up" means proven alive, not merely open: the connection is pinged every `pingInterval`, and
/// one that has answered nothing for `livenessTimeout` (a hung server, a half-open connection) is
/// closed and counts as down.
///
/// On a Redis Cluster it subscribes with a classic `SUBSCRIBE` on one node: a `PUBLISH` on any
/// node reaches the subscribers of every node over the cluster bus, so one connection hears every
/// invalidation. A live connection does not prove that, though (the node may be cut off from
/// the bus, or have left the cluster): with a `heartbeat`, the subscriber publishes a message of
/// its own through every master every `pingInterval` and counts as up only while each copy comes
/// back within `livenessTimeout`. When its node goes away it tries the next one it knows
/// (`nodes`, asked again before each attempt).
public final class RedisSubscriber: Service, Sendable {
    public typealias MessageHandler = @Sendable (String) -> Void
    public typealias StateHandler = @Sendable (_ connected: Bool) -> Void
    /// Publishes `message` on the channel through every master; returns how many copies were sent.
    public typealias Heartbeat = @Sendable (_ message: String) async throws -> Int

    private let configuration: RedisConfiguration
    private let channelName: String
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onMessage: MessageHandler
    private let onState: StateHandler
    private let connected = Atomic<Bool>(false)
    private let pingInterval: Duration
    private let livenessTimeout: Duration
    private let nodes: @Sendable () -> [RedisNodeAddress]
    private let attempt = Atomic<Int>(0)
    private let heartbeat: Heartbeat?
    /// Copies heard of each heartbeat in flight, by sequence number.
    private let heard = Mutex<[UInt64: Int]>([:])
    /// Heartbeat numbers, never reused across reconnections (a late copy cannot count twice).
    private let heartbeatSequence = Atomic<UInt64>(0)
    private let heartbeatPrefix = "hb|\(UInt64.random(in: 0..<UInt64.max))|"

    public init(
        configuration: RedisConfiguration, nodes: (@Sendable () -> [RedisNodeAddress])? = nil, channel: String,
        pingInterval: Duration = .seconds(1), livenessTimeout: Duration = .seconds(2), heartbeat: Heartbeat? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger,
        onMessage: @escaping MessageHandler, onState: @escaping StateHandler
    ) {
        self.heartbeat = heartbeat
        let seeds = configuration.nodes
        self.nodes = nodes ?? { seeds }
        self.pingInterval = pingInterval
        self.livenessTimeout = livenessTimeout
        self.configuration = configuration
        self.channelName = channel
        self.group = group
        self.logger = logger
        self.onMessage = onMessage
        self.onState = onState
    }

    public var isConnected: Bool { connected.load(ordering: .acquiring) }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    let channel = try await self.subscribe()
                    if self.heartbeat != nil {
                        guard await self.beat() else {
                            channel.close(promise: nil)
                            throw RedisError.timeout(command: "a heartbeat through every master")
                        }
                    }
                    failures = 0
                    self.connected.store(true, ordering: .releasing)
                    self.onState(true)
                    try? await withTaskCancellationHandler {
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask { try await channel.closeFuture.get() }
                            if self.heartbeat != nil {
                                group.addTask {
                                    while !Task.isCancelled {
                                        try await Task.sleep(for: self.pingInterval)
                                        if await !self.beat() {
                                            self.logger.warning(
                                                "an invalidation heartbeat did not come back from every master")
                                            channel.close(promise: nil)
                                            return
                                        }
                                    }
                                }
                            }
                            _ = try await group.next()
                            group.cancelAll()
                        }
                    } onCancel: {
                        channel.close(promise: nil)
                    }
                    self.connected.store(false, ordering: .releasing)
                    self.onState(false)
                    self.attempt.add(1, ordering: .relaxed)  // the next node first
                    if !Task.isCancelled { self.logger.warning("invalidation channel lost; reconnecting") }
                } catch {
                    if failures == 0 {
                        self.logger.warning(
                            "cannot subscribe to the invalidation channel",
                            metadata: ["error": "\(String(reflecting: error))"])
                    }
                    failures += 1
                    self.attempt.add(1, ordering: .relaxed)
                }
                let backoff = min(2000, 50 << min(failures, 6))
                try? await Task.sleep(for: .milliseconds(backoff))
            }
        }
    }

    /// One heartbeat: published through every master, then every copy awaited for the liveness
    /// timeout. False when a publish failed or a copy did not come back.
    private func beat() async -> Bool {
        guard let heartbeat else { return true }
        let current = heartbeatSequence.add(1, ordering: .relaxed).newValue
        heard.withLock { $0[current] = 0 }
        defer { heard.withLock { $0[current] = nil } }
        guard let expected = try? await heartbeat(heartbeatPrefix + String(current)) else { return false }
        let deadline = ContinuousClock.now + livenessTimeout
        while ContinuousClock.now < deadline {
            if heard.withLock({ $0[current] ?? 0 }) >= expected { return true }
            do { try await Task.sleep(for: .milliseconds(10)) } catch { return false }  // cancelled
        }
        return false
    }

    private func subscribe() async throws -> any Channel {
        let candidates = nodes()
        let node =
            candidates.isEmpty
            ? configuration.nodes[0] : candidates[attempt.load(ordering: .relaxed) % candidates.count]
        let deliver = self.onMessage
        let prefix = heartbeatPrefix
        let onMessage: MessageHandler = { [self] text in
            guard text.hasPrefix(prefix) else { return deliver(text) }
            if let sequence = UInt64(text.dropFirst(prefix.count)) {
                heard.withLock { counts in
                    if let count = counts[sequence] { counts[sequence] = count + 1 }
                }
            }
        }
        let channelName = self.channelName
        let liveness = RedisPubSubHandler.Liveness(
            interval: .nanoseconds(pingInterval.nanoseconds), timeout: .nanoseconds(livenessTimeout.nanoseconds))
        let eventLoop = group.next()
        let confirmed = eventLoop.makePromise(of: Void.self)
        let connecting = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RedisPubSubHandler(
                            channel: channelName, confirmed: confirmed, liveness: liveness, onMessage: onMessage))
                }
            }
            .connect(host: node.host, port: node.port)
        let channel: any Channel
        do {
            channel = try await connecting.get()
        } catch {
            confirmed.fail(error)
            throw error
        }
        var commands: [RESPCommand] = []
        if let password = configuration.password {
            commands.append(
                RESPCommand(
                    "AUTH", configuration.username.map { [.string($0), .string(password)] } ?? [.string(password)]))
        }
        commands.append(RESPCommand("SUBSCRIBE", [.string(channelName)]))
        for command in commands { channel.write(command.bytes, promise: nil) }
        channel.flush()
        let timeout = eventLoop.scheduleTask(in: configuration.connectTimeout + .seconds(1)) {
            confirmed.fail(RedisError.timeout(command: "SUBSCRIBE"))
        }
        do {
            try await confirmed.futureResult.get()
            timeout.cancel()
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return channel
    }
}

/// Reads a subscribed connection: confirms the subscription, passes each message on, and pings
/// it, closing it when nothing has been heard for the liveness timeout.
final class RedisPubSubHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Liveness: Sendable {
        var interval: TimeAmount
        var timeout: TimeAmount
    }

    private let parser = RESPParser()
    private let channelName: String
    private let confirmed: EventLoopPromise<Void>
    private let onMessage: RedisSubscriber.MessageHandler
    private let liveness: Liveness
    private var lastHeard = NIODeadline.now()
    private var pingTimer: Scheduled<Void>?
    private var watchdog: Scheduled<Void>?
    private static let ping = RESPCommand("PING").bytes

    init(
        channel: String, confirmed: EventLoopPromise<Void>, liveness: Liveness,
        onMessage: @escaping RedisSubscriber.MessageHandler
    ) {
        self.channelName = channel
        self.confirmed = confirmed
        self.liveness = liveness
        self.onMessage = onMessage
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopLiveness()
    }

    /// Once subscribed: a PING every interval, and a watchdog that closes the connection when
    /// nothing at all has been heard for the timeout.
    private func startLiveness(context: ChannelHandlerContext) {
        guard pingTimer == nil else { return }
        lastHeard = .now()
        schedulePing(context: context)
        scheduleWatchdog(context: context)
    }

    private func stopLiveness() {
        pingTimer?.cancel()
        pingTimer = nil
        watchdog?.cancel()
        watchdog = nil
    }

    private func schedulePing(context: ChannelHandlerContext) {
        pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: liveness.interval) {
            guard context.channel.isActive else { return }
            context.writeAndFlush(self.wrapOutboundOut(Self.ping), promise: nil)
            self.schedulePing(context: context)
        }
    }

    private func scheduleWatchdog(context: ChannelHandlerContext) {
        watchdog = context.eventLoop.assumeIsolated().scheduleTask(deadline: lastHeard + liveness.timeout) {
            guard context.channel.isActive else { return }
            if NIODeadline.now() - self.lastHeard >= self.liveness.timeout {
                // Silent for too long: whatever was published meanwhile may be lost.
                self.stopLiveness()
                context.close(promise: nil)
            } else {
                self.scheduleWatchdog(context: context)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastHeard = .now()
        do {
            for reply in try parser.feed(unwrapInboundIn(data)) {
                switch reply {
                case .error(let message):
                    confirmed.fail(RedisError.server(message))
                    context.close(promise: nil)
                case .array(let parts?) where parts.count >= 3:
                    switch parts[0].string {
                    case "subscribe":
                        confirmed.succeed(())
                        startLiveness(context: context)
                    case "message": if let text = parts[2].string { onMessage(text) }
                    default: break
                    }
                default:
                    break  // +OK of AUTH
                }
            }
        } catch {
            confirmed.fail(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopLiveness()
        confirmed.fail(RedisError.connectionClosed("closed before the subscription was confirmed"))
        context.fireChannelInactive()
    }
}
