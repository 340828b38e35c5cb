/// Whether an `Accept-Encoding` field value (RFC 9110 §12.5.3) accepts gzip: `gzip` (or `x-gzip`)
/// with a non-zero weight, or, when gzip is not named, `*` with a non-zero weight. A weight of zero
/// in any spelling (`q=0`, `q=0.0`, `Q=0.000`) refuses; a malformed weight counts as zero.
enum AcceptEncoding {
    static func acceptsGzip(_ values: [String]) -> Bool {
        var gzip: Bool?
        var wildcard: Bool?
        for value in values {
            for element in value.split(separator: ",") {
                let parts = element.split(separator: ";")
                guard let coding = parts.first.map { String($0).trimmingOWS.lowercased() }, !coding.isEmpty else {
                    continue
                }
                var accepted = true
                for parameter in parts.dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2, String(pair[0]).trimmingOWS.lowercased() == "q" else { continue }
                    accepted = weightIsPositive(String(String(pair[1]).trimmingOWS))
                }
                switch coding {
                case "gzip", "x-gzip": gzip = accepted
                case "*": wildcard = accepted
                default: break
                }
            }
        }
        return gzip ?? wildcard ?? false
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`: positive unless all zeros.
    static func weightIsPositive(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 5 else { return false }
        if bytes.count > 1 {
            guard bytes[1] == UInt8(ascii: "."), bytes.dropFirst(2).allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                return false
            }
        }
        switch first {
        case UInt8(ascii: "1"): return bytes.dropFirst(2).allSatisfy { $0 == UInt8(ascii: "0") }
        case UInt8(ascii: "0"): return bytes.dropFirst(2).contains { $0 != UInt8(ascii: "0") }
        default: return false
        }
    }
}
