/// What a write affects, named as cache tags: every cached response built from a product or a
/// category carries the matching tag, so invalidating the tag reaches exactly those entries.
public enum CatalogTag: Sendable, Hashable, CustomStringConvertible {
    /// A product's detail and the multi-gets that include it: any change of the product.
    case product(Int64)
    /// A category's membership: every page (each sort, each size) and its count. Creates, deletes,
    /// status changes and moves.
    case category(Int64)
    /// The order of every price-sorted page of a category.
    case categoryPrices(Int64)
    /// The price-sorted pages of a category whose prices meet `low...high` (1/10,000 units): a
    /// price change from one to the other moves only the products priced between them, so only
    /// those pages change (a dependency: `category:C/price@LOW..HIGH`).
    case priceRange(category: Int64, low: Int64, high: Int64)
    /// The listing pages of a category that show a product (a dependency: only the pages stored
    /// with it are reached): a change of what a listing item shows (sku, name, price, currency,
    /// attributes, images).
    case listed(category: Int64, product: Int64)
    /// The list of categories.
    case categories

    public var description: String {
        switch self {
        case .product(let id): "product:\(id)"
        case .category(let id): "category:\(id)"
        // Every price-sorted page: the whole range (an older stored form, `category:C/price`,
        // reads as this too).
        case .categoryPrices(let id): CatalogTag.priceRange(category: id, low: 0, high: Self.highestBound).description
        case .priceRange(let category, let low, let high):
            "category:\(category)/price@\(Self.padded(low))..\(Self.padded(high))"
        case .listed(let category, let product): "category:\(category)#product:\(product)"
        case .categories: "categories"
        }
    }

    /// The largest bound a range tag carries: 17 digits (prices stay far below).
    public static let highestBound: Int64 = 99_999_999_999_999_999

    /// A bound as 17 zero-padded digits, so Redis compares bounds exactly as strings.
    static func padded(_ value: Int64) -> String {
        let clamped = min(max(value, 0), highestBound)
        let digits = String(clamped)
        return String(repeating: "0", count: max(0, 17 - digits.count)) + digits
    }

    /// Parses the stored form (`product:7`, `category:3`, `category:3/price`,
    /// `category:3#product:7`, `categories`).
    public init?(_ text: String) {
        if text == "categories" {
            self = .categories
        } else if text.hasPrefix("product:"), let id = Int64(text.dropFirst(8)) {
            self = .product(id)
        } else if text.hasPrefix("category:") {
            let rest = text.dropFirst(9)
            if let id = Int64(rest) {
                self = .category(id)
            } else if rest.hasSuffix("/price"), let id = Int64(rest.dropLast(6)) {
                self = .categoryPrices(id)
            } else if let slash = rest.firstIndex(of: "/"), let category = Int64(rest[..<slash]),
                rest[slash...].hasPrefix("/price@"),
                case let bounds = rest[slash...].dropFirst(7).split(separator: ".", omittingEmptySubsequences: true),
                bounds.count == 2, bounds.allSatisfy({ $0.count == 17 }), let low = Int64(bounds[0]),
                let high = Int64(bounds[1]), low >= 0, low <= high
            {
                self = .priceRange(category: category, low: low, high: high)
            } else if let hash = rest.firstIndex(of: "#"), let category = Int64(rest[..<hash]),
                rest[hash...].hasPrefix("#product:"), let product = Int64(rest[hash...].dropFirst(9))
            {
                self = .listed(category: category, product: product)
            } else {
                return nil
            }
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
