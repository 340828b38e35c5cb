import Foundation
import Logging

/// Shows the progress of a long job: a bar with rate and ETA redrawn in place on a terminal, a log
/// line every few seconds otherwise (CI logs, pipes).
public final class ProgressDisplay: @unchecked Sendable {
    private let title: String
    private let unit: String
    private let isTerminal: Bool
    private let logger: Logger
    private let started = Date()
    private let lock = NSLock()
    private var lastLog = Date.distantPast
    private var drawn = false

    public init(title: String, unit: String, logger: Logger, isTerminal: Bool = isatty(STDERR_FILENO) != 0) {
        self.title = title
        self.unit = unit
        self.logger = logger
        self.isTerminal = isTerminal
    }

    /// - Parameters:
    ///   - done: work done, in the unit of `total`.
    ///   - total: all the work, or 0 when unknown.
    ///   - count: items finished (what the rate counts).
    ///   - extra: a short note after the numbers (rejected lines, failures).
    public func update(done: Int64, total: Int64, count: Int, extra: String = "") {
        lock.lock()
        defer { lock.unlock() }
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = Double(count) / elapsed
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let eta = fraction > 0 && fraction < 1 ? elapsed * (1 - fraction) / fraction : 0
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let line = String(
                format: "\r%@ [%@] %3.0f%%  %@ %@  %@/s  ETA %@ %@", title, bar, fraction * 100, Self.grouped(count),
                unit,
                Self.grouped(Int(rate)), Self.duration(eta), extra)
            FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
            drawn = true
        } else if Date().timeIntervalSince(lastLog) >= 5 {
            lastLog = Date()
            logger.info(
                "\(title): \(Self.grouped(count)) \(unit), \(String(format: "%.0f", fraction * 100))%, \(Self.grouped(Int(rate)))/s, ETA \(Self.duration(eta)) \(extra)"
            )
        }
    }

    /// Ends the bar's line so later output starts on a fresh line.
    public func finish() {
        lock.lock()
        defer { lock.unlock() }
        if isTerminal && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value)
        var result = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0 && index % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return String(result.reversed())
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 60 ? "\(total / 60)m\(String(format: "%02d", total % 60))s" : "\(total)s"
    }
}
