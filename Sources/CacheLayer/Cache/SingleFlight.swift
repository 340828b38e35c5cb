import NIOCore
import Synchronization

/// Runs one load per key at a time and gives its result to every caller that asked meanwhile.
///
/// The key must say everything the result depends on, for the cache what the reader saw (the
/// entry and the generations of its tags): a reader that saw a newer generation gets a flight of
/// its own instead of the result of a load that began before the invalidation. A flight leaves the
/// map before its result is delivered, so nobody joins a finished flight. At most `capacity`
/// flights are shared at once; past that a caller runs its own load (correct, only not shared).
public final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public let capacity: Int
    private let flights = Mutex<[Key: EventLoopFuture<Value>]>([:])

    public init(capacity: Int = 10_000) {
        self.capacity = max(1, capacity)
    }

    private enum Role {
        case follower(EventLoopFuture<Value>)
        case leader(EventLoopPromise<Value>)
        case alone
    }

    /// Flights running now.
    public var count: Int { flights.withLock { $0.count } }

    /// Joins the flight of `key`, or starts `body` as it.
    /// - Returns: the flight's result, completed on `eventLoop`.
    public func run(
        _ key: Key, on eventLoop: any EventLoop, _ body: @escaping @Sendable () async throws -> Value
    ) -> EventLoopFuture<Value> {
        let role = flights.withLock { flights -> Role in
            if let running = flights[key] { return .follower(running) }
            guard flights.count < capacity else { return .alone }
            let promise = eventLoop.makePromise(of: Value.self)
            flights[key] = promise.futureResult
            return .leader(promise)
        }
        switch role {
        case .follower(let running):
            return running.hop(to: eventLoop)
        case .alone:
            return eventLoop.makeFutureWithTask(body)
        case .leader(let promise):
            Task {
                let result: Result<Value, any Error>
                do {
                    result = .success(try await body())
                } catch {
                    result = .failure(error)
                }
                _ = self.flights.withLock { $0.removeValue(forKey: key) }
                promise.completeWith(result)
            }
            return promise.futureResult
        }
    }
}
