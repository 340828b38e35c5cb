import NIOCore

/// Runs Swift tasks on one event loop, so work that prefers it (admin writes) resumes on that
/// loop's thread rather than queueing on the cooperative pool behind storefront refills.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
