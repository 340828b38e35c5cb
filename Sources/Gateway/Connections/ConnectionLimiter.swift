import Metrics
import NIOCore
import Synchronization

/// At most `maximum` open connections on one listener: one past that is closed as soon as it is
/// accepted, and counted, so a flood of clients cannot exhaust the process's descriptors or memory.
final class ConnectionLimiter: Sendable {
    let maximum: Int
    private let open = Atomic<Int>(0)
    private let refused: Counter
    private let gauge: Gauge

    init(maximum: Int, listener: String) {
        self.maximum = maximum
        refused = Counter(label: "connections_refused_total", dimensions: [("listener", listener)])
        gauge = Gauge(label: "connections_open", dimensions: [("listener", listener)])
    }

    var current: Int { open.load(ordering: .relaxed) }

    /// Admits `channel` (released when it closes) or closes it.
    /// - Returns: whether it was admitted.
    func admit(_ channel: any Channel) -> Bool {
        let now = open.add(1, ordering: .relaxed).newValue
        guard now <= maximum else {
            open.subtract(1, ordering: .relaxed)
            refused.increment()
            channel.close(promise: nil)
            return false
        }
        gauge.record(now)
        channel.closeFuture.whenComplete { _ in
            self.gauge.record(self.open.subtract(1, ordering: .relaxed).newValue)
        }
        return true
    }
}
