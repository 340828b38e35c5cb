/// A non-negative decimal amount, kept exactly as units of 1/10,000.
///
/// Prices travel as decimal strings ("49.90") and never as binary floating point. The scaled
/// integer is what MongoDB indexes for price-sorted listings.
public struct Price: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let fractionDigits = 4
    public static let scale: Int64 = 10_000
    /// One trillion: more than any catalog price, far from overflowing the scaled integer.
    public static let maximumUnits: Int64 = 1_000_000_000_000

    /// The amount times 10,000.
    public let scaledValue: Int64

    public init(scaledValue: Int64) {
        precondition(scaledValue >= 0, "a price is never negative")
        self.scaledValue = scaledValue
    }

    /// Parses a decimal string such as `"49.90"`, `"0.5"` or `"1200"`.
    ///
    /// - Returns: `nil` for anything else: signs, exponents, spaces, more than four fraction
    ///   digits, or a value of a trillion or more.
    public init?(_ text: String) {
        let utf8 = Array(text.utf8)
        guard !utf8.isEmpty, utf8.count <= 24 else { return nil }
        var whole: Int64 = 0
        var fraction: Int64 = 0
        var fractionDigits = 0
        var seenPoint = false
        var wholeDigits = 0
        for byte in utf8 {
            if byte == UInt8(ascii: ".") {
                guard !seenPoint, wholeDigits > 0 else { return nil }
                seenPoint = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            if seenPoint {
                fractionDigits += 1
                guard fractionDigits <= Self.fractionDigits else { return nil }
                fraction = fraction * 10 + digit
            } else {
                wholeDigits += 1
                guard wholeDigits <= 13 else { return nil }
                whole = whole * 10 + digit
            }
        }
        guard wholeDigits > 0, !(seenPoint && fractionDigits == 0) else { return nil }
        guard whole < Self.maximumUnits else { return nil }
        for _ in fractionDigits..<Self.fractionDigits { fraction *= 10 }
        self.scaledValue = whole * Self.scale + fraction
    }

    /// The canonical decimal string: at least two fraction digits, trailing zeros beyond that
    /// removed ("49.90", "0.125", "12.00").
    public var description: String {
        let whole = scaledValue / Self.scale
        var fraction = String(scaledValue % Self.scale)
        fraction = String(repeating: "0", count: Self.fractionDigits - fraction.count) + fraction
        while fraction.count > 2, fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }

    public static func < (lhs: Price, rhs: Price) -> Bool { lhs.scaledValue < rhs.scaledValue }
}

extension Price: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let price = Price(text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "'\(text)' is not a non-negative decimal with at most 4 fraction digits"
            )
        }
        self = price
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
