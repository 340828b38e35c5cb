/// One page of a category listing.
public struct CategoryPage: Sendable, Hashable {
    public var categoryID: Int64
    public var page: Int
    public var perPage: Int
    public var sort: ListingSort
    /// Active products in the category, across all pages.
    public var total: Int64
    public var items: [Product]
    /// Every product the page's rows named, in order, including any left out of `items` because
    /// its document is not in MongoDB yet: the page depends on all of them.
    public var rowIDs: [Int64] = []

    public var pageCount: Int64 { total == 0 ? 0 : (total + Int64(perPage) - 1) / Int64(perPage) }
}
