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
    /// - Returns: the signature's 32 bytes in hex (what a replay would present again).
    @discardableResult
    public func verify(
        signature: String?, timestamp: String?, body: [UInt8], now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws -> String {
        // Unix seconds as plain digits: no sign, no spaces, no leading '+', at most 12 digits (so
        // the arithmetic below cannot overflow whatever the header holds).
        guard let timestamp, (1...12).contains(timestamp.utf8.count),
            timestamp.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let seconds = Int64(timestamp)
        else { throw Failure.missing("X-Timestamp") }
        guard let signature, signature.utf8.count == 71, signature.hasPrefix("sha256="),
            signature.utf8.dropFirst(7).allSatisfy({ Self.isHexDigit($0) })
        else { throw Failure.missing("X-Signature") }
        let skew = now.subtractingReportingOverflow(seconds)
        guard !skew.overflow, skew.partialValue.magnitude <= UInt64(Self.replayWindow) else {
            throw Failure.stale(skew.overflow ? .max : skew.partialValue)
        }
        let expected = Array(sign(timestamp: seconds, body: body).utf8)
        let presented = Array(signature.lowercased().utf8)
        var difference: UInt8 = 0
        for (a, b) in zip(expected, presented) { difference |= a ^ b }
        guard difference == 0 else { throw Failure.mismatch }
        return String(decoding: presented.dropFirst(7), as: UTF8.self)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }
}
