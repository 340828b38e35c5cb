import Foundation
import Hybrid
import NIOCore
import NIOPosix
import Synchronization

/// Fills the cache ahead of traffic through the same path as a storefront miss, so it takes fill
/// leases (never stampeding the databases with another process) and stores nothing an
/// invalidation made stale. A page already cached counts as already warm and is left alone.
public final class WarmupJob: Sendable {
    public struct Progress: Sendable, Hashable {
        public var total = 0
        public var done = 0
        public var filled = 0
        public var alreadyWarm = 0
        public var failed = 0
        /// The first failures with their reasons (at most 20).
        public var failures: [String] = []
        public var finished = false
        public var startedAt = Date()
        public var finishedAt: Date?

        public var seconds: Double { (finishedAt ?? Date()).timeIntervalSince(startedAt) }
        public var rate: Double { seconds > 0 ? Double(done) / seconds : 0 }
    }

    public let id: String
    public let plan: WarmupPlan
    private let responder: CatalogResponder
    private let catalog: HybridCatalog
    private let state = Mutex(Progress())

    public init(plan: WarmupPlan, responder: CatalogResponder, catalog: HybridCatalog) {
        self.id = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        self.plan = plan
        self.responder = responder
        self.catalog = catalog
    }

    public var progress: Progress { state.withLock { $0 } }

    /// Runs the plan; `report` is called after each page.
    @discardableResult
    public func run(report: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> Progress {
        let routes: [StorefrontRoute]
        do {
            routes = try await plan.routes(catalog: catalog)
        } catch {
            state.withLock {
                $0.finished = true
                $0.finishedAt = Date()
                $0.failures = ["\(error)"]
            }
            throw error
        }
        state.withLock {
            $0.total = routes.count
            $0.startedAt = Date()
        }
        let next = WorkIndex()
        let started = ContinuousClock.now
        let plan = self.plan
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<plan.concurrency {
                group.addTask {
                    let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
                    while true {
                        let index = next.take()
                        guard index < routes.count, !Task.isCancelled else { return }
                        if plan.rate > 0 {
                            let due = started + plan.delay(before: index)
                            if due > ContinuousClock.now { try? await Task.sleep(until: due) }
                        }
                        let outcome = await self.responder.warm(routes[index], on: eventLoop)
                        let snapshot = self.state.withLock { progress -> Progress in
                            progress.done += 1
                            switch outcome {
                            case .filled: progress.filled += 1
                            case .alreadyWarm: progress.alreadyWarm += 1
                            case .failed(let reason):
                                progress.failed += 1
                                if progress.failures.count < 20 {
                                    progress.failures.append("\(routes[index].cacheKey): \(reason)")
                                }
                            }
                            return progress
                        }
                        report(snapshot)
                    }
                }
            }
        }
        return state.withLock {
            $0.finished = true
            $0.finishedAt = Date()
            return $0
        }
    }
}

/// What warming one page did.
public enum WarmOutcome: Sendable, Hashable {
    case filled
    case alreadyWarm
    case failed(String)
}

/// Hands out positions of a work list to concurrent workers.
final class WorkIndex: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.add(1, ordering: .relaxed).oldValue }
}
