import Crypto
import Foundation

/// Verifies invalidation hooks: `X-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
/// with `X-Timestamp` (Unix seconds) within the replay window of the server's clock.
public struct HookSignature: Sendable {
    public static let replayWindow: Int64 = 300

    let key: SymmetricKey

    public init(secret: String) {
        key = SymmetricKey(data: Data(secret.utf8))
    }

    /// The signature header value for a timestamp and body (what a sender computes).
    public func sign(timestamp: Int64, body: [UInt8]) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: key)
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case missing(String)
        case stale(Int64)
        case mismatch

        public var description: String {
            switch self {
            case .missing(let header): "the \(header) header is missing or malformed"
            case .stale(let skew):
                "X-Timestamp is \(skew) s away from the server's clock; at most \(HookSignature.replayWindow) s is accepted"
            case .mismatch: "X-Signature does not match the body and timestamp"
            }
        }
    }

    /// - Throws: `Failure` naming what is wrong.
    public func verify(
        signature: String?, timestamp: String?, body: [UInt8], now: Int64 = Int64(Date().timeIntervalSince1970)
    )
        throws
    {
        guard let timestamp, let seconds = Int64(timestamp) else { throw Failure.missing("X-Timestamp") }
        guard let signature, signature.hasPrefix("sha256="), signature.utf8.count == 71 else {
            throw Failure.missing("X-Signature")
        }
        guard abs(now - seconds) <= Self.replayWindow else { throw Failure.stale(now - seconds) }
        let expected = Array(sign(timestamp: seconds, body: body).utf8)
        let presented = Array(signature.lowercased().utf8)
        var difference: UInt8 = 0
        for (a, b) in zip(expected, presented) { difference |= a ^ b }
        guard difference == 0 else { throw Failure.mismatch }
    }
}
