import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A few pipelined connections per event loop, so a command issued on an event loop is written and
/// answered there with no thread hop.
///
/// A slot whose connect failed fails requests at once until its retry time (exponential backoff,
/// 100 ms to 2 s): this is the circuit breaker that keeps every request from waiting out a timeout
/// while Redis is down. A closed connection is replaced on the next request.
public final class RedisConnectionPool: Sendable {
    public let configuration: RedisConfiguration
    /// The server this pool connects to.
    public let node: RedisNodeAddress
    private let slots: [ObjectIdentifier: [Slot]]
    private let fallback: [Slot]
    private let logger: Logger
    private let roundRobin = Atomic<Int>(0)

    final class Slot: Sendable {
        enum State {
            case idle
            case connecting(EventLoopFuture<RedisConnection>)
            case connected(RedisConnection)
            case backingOff(until: NIODeadline, failures: Int, reason: String)
        }

        let eventLoop: any EventLoop
        let state = Mutex<State>(.idle)

        init(eventLoop: any EventLoop) {
            self.eventLoop = eventLoop
        }
    }

    public init(
        configuration: RedisConfiguration, node: RedisNodeAddress? = nil, group: any EventLoopGroup, logger: Logger
    ) {
        self.configuration = configuration
        self.node = node ?? configuration.nodes[0]
        self.logger = logger
        var slots: [ObjectIdentifier: [Slot]] = [:]
        var all: [Slot] = []
        for eventLoop in group.makeIterator() {
            let loopSlots = (0..<max(1, configuration.connectionsPerEventLoop)).map { _ in Slot(eventLoop: eventLoop) }
            slots[ObjectIdentifier(eventLoop)] = loopSlots
            all += loopSlots
        }
        self.slots = slots
        self.fallback = all
    }

    /// A connection on `eventLoop` when it belongs to the pool's group, otherwise on any loop.
    public func connection(preferring eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<RedisConnection> {
        let candidates = eventLoop.flatMap { slots[ObjectIdentifier($0)] } ?? fallback
        let index = roundRobin.wrappingAdd(1, ordering: .relaxed).oldValue
        let slot = candidates[abs(index) % candidates.count]
        return connection(from: slot)
    }

    /// Sends one command on a pooled connection; the future completes on `eventLoop` if given.
    public func send(_ command: RESPCommand, on eventLoop: (any EventLoop)? = nil) -> EventLoopFuture<RESPValue> {
        let future = connection(preferring: eventLoop).flatMap { $0.send(command) }
        if let eventLoop { return future.hop(to: eventLoop) }
        return future
    }

    /// Closes every connection.
    public func close() async {
        for slot in fallback {
            let connection: RedisConnection? = slot.state.withLock { state in
                defer { state = .idle }
                if case .connected(let connection) = state { return connection }
                return nil
            }
            try? await connection?.close().get()
        }
    }

    private func connection(from slot: Slot) -> EventLoopFuture<RedisConnection> {
        enum Next {
            case ready(RedisConnection)
            case wait(EventLoopFuture<RedisConnection>)
            case fail(RedisError)
            case connect(EventLoopPromise<RedisConnection>, failures: Int)
        }
        let next: Next = slot.state.withLock { state in
            var failures = 0
            switch state {
            case .connected(let connection) where connection.isActive:
                return .ready(connection)
            case .connecting(let future):
                return .wait(future)
            case .backingOff(let until, let count, let reason):
                if until > .now() { return .fail(.unavailable(reason)) }
                failures = count
            case .idle, .connected:
                break
            }
            let promise = slot.eventLoop.makePromise(of: RedisConnection.self)
            state = .connecting(promise.futureResult)
            return .connect(promise, failures: failures)
        }
        switch next {
        case .ready(let connection): return slot.eventLoop.makeSucceededFuture(connection)
        case .wait(let future): return future
        case .fail(let error): return slot.eventLoop.makeFailedFuture(error)
        case .connect(let promise, let failures):
            let logger = self.logger
            RedisConnection.connect(configuration: configuration, node: node, on: slot.eventLoop).whenComplete {
                result in
                switch result {
                case .success(let connection):
                    slot.state.withLock { $0 = .connected(connection) }
                    if failures > 0 { logger.info("Redis connection restored") }
                    promise.succeed(connection)
                case .failure(let error):
                    let backoff = min(2000, 100 << min(failures, 5))
                    let reason = (error as? RedisError)?.description ?? "\(error)"
                    slot.state.withLock {
                        $0 = .backingOff(
                            until: .now() + .milliseconds(Int64(backoff)), failures: failures + 1, reason: reason)
                    }
                    if failures == 0 {
                        logger.warning("Redis unavailable", metadata: ["node": "\(self.node)", "reason": "\(reason)"])
                    }
                    promise.fail(error)
                }
            }
            return promise.futureResult
        }
    }
}
