import CacheLayer
import Logging
import Synchronization
import Testing

@Suite struct RefresherTests {
    /// A soft invalidation of 100,000 entries must not start 100,000 tasks.
    @Test func aFloodOfRefreshesRunsBoundedAndDropsTheExcess() async throws {
        let refresher = Refresher(concurrency: 4, queueLimit: 1000, logger: TestCache.logger)
        let release = Latch()
        let running = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let ran = CallCounter()
        var submissions: [Refresher.Submission: Int] = [:]
        for key in 0..<100_000 {
            let submission = refresher.submit("k\(key)") {
                let now = running.add(1, ordering: .relaxed).newValue
                most.max(now, ordering: .relaxed)
                await release.wait()
                running.subtract(1, ordering: .relaxed)
                ran.increment()
            }
            submissions[submission, default: 0] += 1
        }
        #expect(submissions[.queued] == 1004)
        #expect(submissions[.dropped] == 100_000 - 1004)
        for _ in 0..<500 where refresher.counts.running < 4 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(refresher.counts.running == 4)
        #expect(refresher.counts.queued == 1000)
        await release.open()
        for _ in 0..<500 where refresher.counts.running > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(ran.count == 1004)
        #expect(most.load(ordering: .relaxed) <= 4)
        #expect(refresher.counts.queued == 0)
    }

    @Test func oneRefreshPerKeyAtATime() async throws {
        let refresher = Refresher(concurrency: 2, queueLimit: 10, logger: TestCache.logger)
        let release = Latch()
        #expect(refresher.submit("k") { await release.wait() } == .queued)
        #expect(refresher.submit("k") {} == .alreadyPending)
        await release.open()
        var queuedAgain = false
        for _ in 0..<200 {
            if refresher.submit("k", {}) == .queued {
                queuedAgain = true
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(queuedAgain, "a finished refresh must not block the next one of its key")
    }

    @Test func failuresAreRememberedBoundedAndForgottenOnSuccess() async throws {
        struct Failure: Error {}
        let refresher = Refresher(concurrency: 1, queueLimit: 10, failureMemory: 1000, logger: TestCache.logger)
        for key in 0..<1_000_000 { refresher.recordFailure("k\(key)") }
        #expect(refresher.counts.failures <= 1000)
        #expect(refresher.recentlyFailed("k999999"))
        refresher.submit("bad") { throw Failure() }
        for _ in 0..<200 where !refresher.recentlyFailed("bad") { try await Task.sleep(for: .milliseconds(5)) }
        #expect(refresher.recentlyFailed("bad"))
        refresher.submit("bad") {}
        for _ in 0..<200 where refresher.recentlyFailed("bad") { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!refresher.recentlyFailed("bad"))
    }
}
