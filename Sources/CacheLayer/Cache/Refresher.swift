import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs background refreshes (stale-while-revalidate, soft invalidations) through one bounded
/// queue: at most `concurrency` at once, at most `queueLimit` waiting, one per key. A refresh that
/// finds the queue full is dropped and counted; its entry is served stale until a later read asks
/// again. So a soft invalidation of 100,000 entries starts a handful of tasks, not 100,000.
///
/// It also remembers which keys' last refresh failed (at most `failureMemory` of them, for a
/// window), so answers can say `stale-if-error`.
public final class Refresher: Service, Sendable {
    public typealias Job = @Sendable () async throws -> Void

    /// What `submit` did.
    public enum Submission: Sendable, Hashable {
        case queued
        /// A refresh of the key is queued or running already.
        case alreadyPending
        /// The queue is full (or the refresher stopped): the refresh was not started.
        case dropped
    }

    public let concurrency: Int
    public let queueLimit: Int
    public let failureMemory: Int
    private let failureWindow: Duration
    private let logger: Logger
    private let dropped = Counter(label: "cache_refreshes_dropped_total")
    private let started = Counter(label: "cache_refreshes_total")
    private let failed = Counter(label: "cache_refresh_failures_total")

    struct State {
        var queue: [(key: String, job: Job)] = []
        var head = 0
        /// Keys queued or running.
        var pending: Set<String> = []
        /// Worker tasks started.
        var running = 0
        /// Jobs executing now.
        var executing = 0
        var stopped = false
        var workers: [UInt64: Task<Void, Never>] = [:]
        var nextWorker: UInt64 = 0
        var failures: [String: ContinuousClock.Instant] = [:]

        var queued: Int { queue.count - head }
    }

    private let state = Mutex(State())

    public init(
        concurrency: Int = 4, queueLimit: Int = 1000, failureMemory: Int = 10_000,
        failureWindow: Duration = .seconds(60),
        logger: Logger
    ) {
        self.concurrency = max(1, concurrency)
        self.queueLimit = max(0, queueLimit)
        self.failureMemory = max(1, failureMemory)
        self.failureWindow = failureWindow
        self.logger = logger
    }

    /// Refreshes waiting, refreshes running, and keys remembered as failed.
    public var counts: (queued: Int, running: Int, failures: Int) {
        state.withLock { ($0.queued, $0.executing, $0.failures.count) }
    }

    /// Queues `job` as the refresh of `key` unless one is pending or the queue is full.
    @discardableResult
    public func submit(_ key: String, _ job: @escaping Job) -> Submission {
        let (submission, startWorker) = state.withLock { state -> (Submission, Bool) in
            guard !state.stopped else { return (.dropped, false) }
            guard !state.pending.contains(key) else { return (.alreadyPending, false) }
            // `pending` holds the running keys and the waiting ones.
            guard state.pending.count < concurrency + queueLimit else { return (.dropped, false) }
            let startWorker = state.running < concurrency
            state.pending.insert(key)
            state.queue.append((key, job))
            if startWorker { state.running += 1 }
            return (.queued, startWorker)
        }
        switch submission {
        case .queued:
            started.increment()
            if startWorker { spawnWorker() }
        case .dropped:
            dropped.increment()
        case .alreadyPending:
            break
        }
        return submission
    }

    /// Whether the last refresh of `key` failed within the failure window.
    public func recentlyFailed(_ key: String) -> Bool {
        state.withLock { state in
            guard let at = state.failures[key] else { return false }
            return ContinuousClock.now - at < failureWindow
        }
    }

    /// Remembers that a refresh of `key` failed (bounded: the oldest memories go first).
    public func recordFailure(_ key: String) {
        let now = ContinuousClock.now
        state.withLock { state in
            if state.failures[key] == nil, state.failures.count >= failureMemory {
                state.failures = state.failures.filter { now - $0.value < failureWindow }
                if state.failures.count >= failureMemory { state.failures.removeAll(keepingCapacity: true) }
            }
            state.failures[key] = now
        }
    }

    /// Waits for shutdown; then takes no more work, drops what is queued, and stops the refreshes
    /// running (before the clients they use close).
    public func run() async throws {
        try? await gracefulShutdown()
        let workers = state.withLock { state in
            state.stopped = true
            for index in state.head..<state.queue.count { state.pending.remove(state.queue[index].key) }
            state.queue.removeAll()
            state.head = 0
            return Array(state.workers.values)
        }
        for worker in workers {
            worker.cancel()
            await worker.value
        }
    }

    private func spawnWorker() {
        state.withLock { state in
            let id = state.nextWorker
            state.nextWorker += 1
            state.workers[id] = Task {
                await self.work()
                _ = self.state.withLock { $0.workers.removeValue(forKey: id) }
            }
        }
    }

    private func work() async {
        while let (key, job) = next() {
            do {
                try await job()
                _ = state.withLock { $0.failures.removeValue(forKey: key) }
            } catch {
                failed.increment()
                recordFailure(key)
                logger.warning(
                    "refresh failed; serving stale",
                    metadata: ["key": "\(key)", "error": "\(String(reflecting: error))"])
            }
            state.withLock { state in
                state.pending.remove(key)
                state.executing -= 1
            }
        }
    }

    /// The next job, or `nil` (and one worker fewer) when the queue is empty.
    private func next() -> (String, Job)? {
        state.withLock { state in
            guard !Task.isCancelled, state.head < state.queue.count else {
                state.running -= 1
                state.queue.removeAll(keepingCapacity: true)
                state.head = 0
                return nil
            }
            let item = state.queue[state.head]
            state.head += 1
            state.executing += 1
            if state.head > 1024 && state.head * 2 > state.queue.count {
                state.queue.removeFirst(state.head)
                state.head = 0
            }
            return (item.key, item.job)
        }
    }
}
