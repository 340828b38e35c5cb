import Hybrid

/// Builds a storefront response body from the databases: what the cache calls on a miss.
public struct StorefrontRenderer: Sendable {
    /// A rendered body and the tags of everything it was built from.
    public struct Rendered: Sendable {
        public var body: [UInt8]
        public var tags: [CatalogTag]
        /// An empty page past a listing's last: remembered briefly, like a not-found.
        public var pastTheEnd = false
        /// The products a listing page shows (`listed` tags): a change of one reaches this page.
        public var dependencies: [CatalogTag] = []
    }

    let pages: CategoryPageLoader
    let products: ProductLoader
    let categories: CategoryLoader

    public init(catalog: HybridCatalog, mode: LoadingMode = .batch) {
        pages = CategoryPageLoader(catalog: catalog, mode: mode)
        products = ProductLoader(catalog: catalog, mode: mode)
        categories = CategoryLoader(catalog: catalog)
    }

    /// - Throws: `HybridError` (not found, a database unavailable).
    public func render(_ route: StorefrontRoute) async throws -> Rendered {
        switch route {
        case .categories:
            return Rendered(body: CatalogJSON.categories(try await categories.all()), tags: [.categories])
        case .categoryProducts(let categoryID, let request):
            let page = try await pages.load(categoryID: categoryID, request: request)
            var dependencies: [CatalogTag] = page.rowIDs.map { .listed(category: categoryID, product: $0) }
            if let range = page.priceRange {
                dependencies.append(.priceRange(category: categoryID, low: range.lowerBound, high: range.upperBound))
            }
            return Rendered(
                body: CatalogJSON.page(page), tags: [.category(categoryID)],
                pastTheEnd: page.items.isEmpty && request.page > 1, dependencies: dependencies)
        case .product(let id):
            let product = try await products.product(id: id)
            return Rendered(body: CatalogJSON.product(product), tags: [.product(id)])
        case .products(let ids):
            let found = try await products.products(ids: ids)
            return Rendered(body: CatalogJSON.products(found, ids: ids), tags: ids.map { .product($0) })
        }
    }
}
