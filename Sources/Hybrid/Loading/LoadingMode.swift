/// How documents are fetched for a set of rows.
public enum LoadingMode: String, Sendable, Hashable, CaseIterable {
    /// One `$in` query per page: the default.
    case batch
    /// One `find_one` per product, as the seed article's descriptors did; kept for benchmarks.
    case perObject = "per-object"
}
