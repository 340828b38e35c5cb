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
    /// For a price-sorted page, the prices (1/10,000 units) whose change can alter it: from its
    /// lowest to its highest, open-ended towards the end of the order when the page is the last.
    public var priceRange: ClosedRange<Int64>? = nil

    public var pageCount: Int64 { total == 0 ? 0 : (total + Int64(perPage) - 1) / Int64(perPage) }
}
