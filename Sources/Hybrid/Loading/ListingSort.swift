/// The orders a category listing can be read in.
public enum ListingSort: String, Sendable, Hashable, CaseIterable {
    case newest
    case priceAscending = "price_asc"
    case priceDescending = "price_desc"
}
