/// A catalog category (relational only).
public struct Category: Sendable, Hashable {
    public var id: Int64
    public var slug: String
    public var name: String
    public var parentID: Int64?
    public var version: Int64
    /// Active products in the category, when the query counted them.
    public var productCount: Int64?

    public init(
        id: Int64, slug: String, name: String, parentID: Int64? = nil, version: Int64 = 1, productCount: Int64? = nil
    ) {
        self.id = id
        self.slug = slug
        self.name = name
        self.parentID = parentID
        self.version = version
        self.productCount = productCount
    }
}
