import Hybrid

/// What a warmup job fills: pages 1…`pages` of each listed category (or all) in each sort,
/// never past a category's last page.
public struct WarmupPlan: Sendable, Hashable {
    public var categoryIDs: [Int64]?
    public var pages: Int
    public var sorts: [ListingSort]
    public var perPage: Int
    public var concurrency: Int
    /// Requests per second at most; 0 is unlimited.
    public var rate: Double

    public static let minimumRate = 0.01
    public static let maximumRate = 100_000.0

    public init(
        categoryIDs: [Int64]? = nil, pages: Int = 3, sorts: [ListingSort] = ListingSort.allCases,
        perPage: Int = PageRequest.defaultPerPage, concurrency: Int = 4, rate: Double = 0
    ) throws {
        guard (1...1000).contains(pages) else {
            throw HybridError.invalidInput("pages must be from 1 to 1000, got \(pages)")
        }
        guard (1...PageRequest.maximumPerPage).contains(perPage) else {
            throw HybridError.invalidInput("per_page must be from 1 to \(PageRequest.maximumPerPage), got \(perPage)")
        }
        guard (1...64).contains(concurrency) else {
            throw HybridError.invalidInput("concurrency must be from 1 to 64, got \(concurrency)")
        }
        guard rate == 0 || (rate.isFinite && rate >= Self.minimumRate && rate <= Self.maximumRate) else {
            throw HybridError.invalidInput(
                "rate must be 0 (unlimited) or from \(Self.minimumRate) to \(Int(Self.maximumRate)) pages per second, got \(rate)"
            )
        }
        if let categoryIDs, categoryIDs.count > 10_000 {
            throw HybridError.invalidInput("at most 10000 categories per job, got \(categoryIDs.count)")
        }
        guard !sorts.isEmpty else { throw HybridError.invalidInput("name at least one sort") }
        self.categoryIDs = categoryIDs
        self.pages = pages
        self.sorts = sorts
        self.perPage = perPage
        self.concurrency = concurrency
        self.rate = rate
    }

    /// When the `index`th page may start, counted from the job's start (the rate's pacing).
    func delay(before index: Int) -> Duration {
        guard rate > 0 else { return .zero }
        // rate ≥ 0.01 and index < 2^53 keep this finite and far inside Duration's range.
        return .milliseconds(Int64(clamping: Int(exactly: (Double(index) * 1000 / rate).rounded()) ?? Int.max))
    }

    /// The routes to fill, from the categories' current product counts (one SQL query).
    /// - Throws: `HybridError.categoryNotFound` for a listed category that does not exist.
    func routes(catalog: HybridCatalog) async throws -> [StorefrontRoute] {
        let categories = try await CategoryLoader(catalog: catalog).all()
        var selected = categories
        if let categoryIDs {
            let byID = Dictionary(uniqueKeysWithValues: categories.map { ($0.id, $0) })
            selected = try categoryIDs.map { id in
                guard let category = byID[id] else { throw HybridError.categoryNotFound(id) }
                return category
            }
        }
        var routes: [StorefrontRoute] = [.categories]
        for category in selected {
            let count = Int(category.productCount ?? 0)
            let lastPage = max(1, (count + perPage - 1) / perPage)
            for sort in sorts {
                for page in 1...min(pages, lastPage) {
                    routes.append(
                        .categoryProducts(
                            categoryID: category.id, request: try PageRequest(page: page, perPage: perPage, sort: sort))
                    )
                }
            }
        }
        return routes
    }
}
