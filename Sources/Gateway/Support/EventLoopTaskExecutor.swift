import NIOCore
import Synchronization

/// Runs Swift tasks on one event loop, so work that prefers it (admin writes) resumes on that
/// loop's thread rather than queueing on the cooperative pool behind storefront refills.
///
/// Once `close()` is called (before the loop shuts down), jobs go to the global executor instead:
/// a job handed to a loop that has stopped would be dropped and its task would never resume.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop
    private let closed = Atomic<Bool>(false)

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if closed.load(ordering: .acquiring) {
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
            return
        }
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// From now on, runs jobs on the global executor.
    func close() {
        closed.store(true, ordering: .releasing)
    }
}
