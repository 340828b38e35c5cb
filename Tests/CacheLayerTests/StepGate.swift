import CacheLayer
import Synchronization

/// A `CacheProbe` that holds one chosen step at one chosen moment until the test lets it go, or
/// fails it as if Redis had: each interleaving test replays its race step by step.
final class StepGate: CacheProbe {
    enum Moment: Sendable { case before, after }

    /// One armed pause: `reached` opens when a matching step arrives, which then waits for `release`.
    final class Pause: Sendable {
        let moment: Moment
        let step: CacheStep
        let matching: String?
        let reached = Latch()
        let release = Latch()

        init(moment: Moment, step: CacheStep, matching: String?) {
            self.moment = moment
            self.step = step
            self.matching = matching
        }
    }

    private let armed = Mutex<[Pause]>([])
    private let failures = Mutex<[CacheStep: Int]>([:])

    /// Holds the next `step` that reaches `moment` (and whose key contains `matching`).
    func pause(_ moment: Moment, _ step: CacheStep, matching: String? = nil) -> Pause {
        let pause = Pause(moment: moment, step: step, matching: matching)
        armed.withLock { $0.append(pause) }
        return pause
    }

    /// Makes the next `count` occurrences of `step` fail before reaching Redis.
    func fail(_ step: CacheStep, times count: Int = 1) {
        failures.withLock { $0[step, default: 0] += count }
    }

    struct InjectedFailure: Error {}

    func before(_ step: CacheStep, key: String) async throws {
        let fails = failures.withLock { failures -> Bool in
            guard let left = failures[step], left > 0 else { return false }
            failures[step] = left - 1
            return true
        }
        if fails { throw InjectedFailure() }
        await hold(.before, step, key)
    }

    func after(_ step: CacheStep, key: String) async {
        await hold(.after, step, key)
    }

    private func hold(_ moment: Moment, _ step: CacheStep, _ key: String) async {
        let pause = armed.withLock { armed -> Pause? in
            guard
                let index = armed.firstIndex(where: {
                    $0.moment == moment && $0.step == step && ($0.matching.map { key.contains($0) } ?? true)
                })
            else { return nil }
            return armed.remove(at: index)
        }
        guard let pause else { return }
        await pause.reached.open()
        await pause.release.wait()
    }
}

/// A value a test's "database" holds, changed by its "writes".
final class Stored: Sendable {
    private let value: Mutex<String>
    init(_ value: String) { self.value = Mutex(value) }
    var current: String {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// Waits for `operation` at most `limit`; `nil` when it did not finish in time (it keeps running).
func finished<T: Sendable>(within limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws
    -> T?
{
    let outcome = Mutex<Result<T, any Error>?>(nil)
    Task {
        do {
            let value = try await operation()
            outcome.withLock { $0 = .success(value) }
        } catch {
            outcome.withLock { $0 = .failure(error) }
        }
    }
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if let result = outcome.withLock({ $0 }) { return try result.get() }
        try await Task.sleep(for: .milliseconds(5))
    }
    return nil
}
