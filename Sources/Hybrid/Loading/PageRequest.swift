/// A validated listing request: a page number from 1 and a page size from 1 to `maximumPerPage`.
public struct PageRequest: Sendable, Hashable {
    public static let maximumPerPage = 100
    public static let defaultPerPage = 20
    /// Deeper pages are refused rather than making the database skip millions of rows.
    public static let maximumPage = 10_000
    /// How far into a listing a page may reach (page × per_page), the way search engines bound
    /// their result windows: the database never skips more than this many rows.
    public static let maximumWindow = 10_000

    public let page: Int
    public let perPage: Int
    public let sort: ListingSort

    public init(page: Int = 1, perPage: Int = PageRequest.defaultPerPage, sort: ListingSort = .newest) throws {
        guard page >= 1, page <= Self.maximumPage else {
            throw HybridError.invalidInput("page must be between 1 and \(Self.maximumPage), got \(page)")
        }
        guard perPage >= 1, perPage <= Self.maximumPerPage else {
            throw HybridError.invalidInput("per_page must be between 1 and \(Self.maximumPerPage), got \(perPage)")
        }
        guard page * perPage <= Self.maximumWindow else {
            throw HybridError.invalidInput(
                "page × per_page must be at most \(Self.maximumWindow) (a listing is served to its \(Self.maximumWindow)th item), got \(page) × \(perPage)"
            )
        }
        self.page = page
        self.perPage = perPage
        self.sort = sort
    }

    var offset: Int { (page - 1) * perPage }
}
