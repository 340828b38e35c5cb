/// What a write affects, named as cache tags: every cached response built from a product or a
/// category carries the matching tag, so invalidating the tag reaches exactly those entries.
public enum CatalogTag: Sendable, Hashable, CustomStringConvertible {
    case product(Int64)
    case category(Int64)
    /// The list of categories.
    case categories

    public var description: String {
        switch self {
        case .product(let id): "product:\(id)"
        case .category(let id): "category:\(id)"
        case .categories: "categories"
        }
    }

    /// Parses the stored form (`product:7`, `category:3`, `categories`).
    public init?(_ text: String) {
        if text == "categories" {
            self = .categories
        } else if text.hasPrefix("product:"), let id = Int64(text.dropFirst(8)) {
            self = .product(id)
        } else if text.hasPrefix("category:"), let id = Int64(text.dropFirst(9)) {
            self = .category(id)
        } else {
            return nil
        }
    }
}

/// Delivers tag invalidations to the cache; Hybrid knows what changed, not how it is cached.
public protocol TagInvalidator: Sendable {
    /// Makes every cached entry carrying one of `tags` unreachable.
    /// - Throws: when the cache could not be reached; the outbox then retries.
    func invalidate(_ tags: [CatalogTag]) async throws
}

/// For processes without a cache (import before first serve, tests of the stores alone).
public struct NoCacheInvalidator: TagInvalidator {
    public init() {}
    public func invalidate(_ tags: [CatalogTag]) async throws {}
}
