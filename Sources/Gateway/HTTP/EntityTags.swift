/// An `If-Match` / `If-None-Match` field value (RFC 9110 §8.8.3, §13.1.1-2): `*` or a
/// comma-separated list of entity-tags, each `"opaque"` or `W/"opaque"`.
enum EntityTags: Equatable {
    case any
    case list([Tag])

    struct Tag: Equatable {
        var weak: Bool
        /// Between the quotes.
        var opaque: Substring
    }

    /// Parses a field value; `nil` when it is malformed.
    init?(_ value: String) {
        let trimmed = value.trimmingOWS
        if trimmed == "*" {
            self = .any
            return
        }
        var tags: [Tag] = []
        var rest = trimmed[...]
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            if rest.first == "," {
                rest = rest.dropFirst()
                continue
            }
            var weak = false
            if rest.hasPrefix("W/") {
                weak = true
                rest = rest.dropFirst(2)
            }
            guard rest.first == "\"" else { return nil }
            rest = rest.dropFirst()
            guard let close = rest.firstIndex(of: "\"") else { return nil }
            let opaque = rest[..<close]
            // etagc = %x21 / %x23-7E / obs-text
            guard opaque.utf8.allSatisfy({ $0 == 0x21 || ($0 >= 0x23 && $0 != 0x7F) }) else { return nil }
            tags.append(Tag(weak: weak, opaque: opaque))
            rest = rest[rest.index(after: close)...].drop { $0 == " " || $0 == "\t" }
            guard rest.isEmpty || rest.first == "," else { return nil }
        }
        guard !tags.isEmpty else { return nil }
        self = .list(tags)
    }

    /// `If-None-Match`: weak comparison (the opaque parts equal, either may be weak).
    func matchesWeakly(_ etag: String) -> Bool {
        guard let current = EntityTags(etag), case .list(let own) = current, let tag = own.first else { return false }
        switch self {
        case .any: return true
        case .list(let tags): return tags.contains { $0.opaque == tag.opaque }
        }
    }

    /// `If-Match` naming product or category versions (ETag `"3"`): strong comparison, so only
    /// strong tags count. `nil` for `*` (any version); an empty list when no listed tag can match.
    var strongVersions: [Int64]? {
        switch self {
        case .any: return nil
        case .list(let tags):
            return tags.compactMap { tag in
                guard !tag.weak, let first = tag.opaque.utf8.first, first != UInt8(ascii: "0"),
                    tag.opaque.utf8.count <= 18,
                    tag.opaque.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
                else { return nil }
                return Int64(tag.opaque)
            }
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    var trimmingOWS: Substring {
        let start = firstIndex { $0 != " " && $0 != "\t" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" }.map { index(after: $0) } ?? start
        return self[start..<max(start, end)]
    }
}
