import Foundation
import Hybrid
import Synchronization

/// The warmup jobs started through the admin API, kept for their progress reports (the last 100).
public final class WarmupJobs: Sendable {
    private let jobs = Mutex<[(id: String, job: WarmupJob)]>([])
    let responder: CatalogResponder
    let catalog: HybridCatalog

    public init(responder: CatalogResponder, catalog: HybridCatalog) {
        self.responder = responder
        self.catalog = catalog
    }

    /// Starts a job in the background and returns it at once.
    public func start(_ plan: WarmupPlan) -> WarmupJob {
        let job = WarmupJob(plan: plan, responder: responder, catalog: catalog)
        jobs.withLock { jobs in
            jobs.append((job.id, job))
            if jobs.count > 100 { jobs.removeFirst(jobs.count - 100) }
        }
        Task { try? await job.run() }
        return job
    }

    public func job(id: String) -> WarmupJob? {
        jobs.withLock { $0.first { $0.id == id }?.job }
    }
}
