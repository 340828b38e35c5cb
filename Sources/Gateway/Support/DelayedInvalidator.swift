import Hybrid

/// A deliberate fault, for `loadtests/consistency --self-test` only: acknowledges an invalidation
/// at once and delivers it `delay` later, so writes return before readers can see them. It exists
/// to prove that the checker catches a gateway that serves data older than an acknowledged write.
struct DelayedInvalidator: TagInvalidator {
    let inner: any TagInvalidator
    let delay: Duration

    func invalidate(_ tags: [CatalogTag]) async throws {
        let inner = self.inner
        let delay = self.delay
        Task {
            try? await Task.sleep(for: delay)
            try? await inner.invalidate(tags)
        }
    }
}
