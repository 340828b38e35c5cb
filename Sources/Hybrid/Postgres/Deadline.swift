import Synchronization

/// Waits for an operation at most a given time, without waiting for one that ignores
/// cancellation: a connection pool that has stopped answers neither a lease nor its
/// cancellation, and a task group would wait for such a child forever.
public enum Deadline {
    /// Runs `operation`; past `limit` (or when the caller is cancelled) it is abandoned (cancelled,
    /// not awaited) and `expired` is thrown, unless `mayAbandon` says it has reached a point it
    /// must be allowed to finish from (a transaction that has begun), in which case its own
    /// outcome is awaited.
    ///
    /// The operation runs in a task of its own (so it can be abandoned), which inherits no
    /// executor preference: `executor` gives it one.
    public static func run<T: Sendable>(
        _ limit: Duration, expired: @escaping @Sendable () -> any Error,
        mayAbandon: @escaping @Sendable () -> Bool = { true }, executor: (any TaskExecutor)? = nil,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = Race<T>()
        let work = Task(executorPreference: executor) {
            do {
                race.finish(.success(try await operation()))
            } catch {
                race.finish(.failure(error))
            }
        }
        let timer = Task {
            try await Task.sleep(for: limit)
            if mayAbandon() {
                race.finish(.failure(expired()))
                work.cancel()
            }
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { race.wait($0) }
        } onCancel: {
            if mayAbandon() {
                race.finish(.failure(CancellationError()))
                work.cancel()
            }
        }
    }

    /// The first outcome wins; the waiter may arrive before or after it.
    final class Race<T: Sendable>: Sendable {
        struct State {
            var waiter: CheckedContinuation<T, any Error>?
            var outcome: Result<T, any Error>?
        }

        private let state = Mutex(State())

        func wait(_ continuation: CheckedContinuation<T, any Error>) {
            let ready = state.withLock { state -> Result<T, any Error>? in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }

        func finish(_ outcome: Result<T, any Error>) {
            let waiter = state.withLock { state -> CheckedContinuation<T, any Error>? in
                guard state.outcome == nil else { return nil }
                state.outcome = outcome
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(with: outcome)
        }
    }
}
