import PostgresNIO

/// Loads categories (relational only: one SQL query).
public struct CategoryLoader: Sendable {
    let catalog: HybridCatalog

    public init(catalog: HybridCatalog) {
        self.catalog = catalog
    }

    /// Every category with its count of active products, by id.
    public func all() async throws -> [Category] {
        let rows = try await catalog.readSQL(
            """
            SELECT c.id, c.slug, c.name, c.parent_id, c.version,
                (SELECT count(*) FROM products p WHERE p.category_id = c.id AND p.status = 'active')
            FROM categories c ORDER BY c.id
            """)
        var categories: [Category] = []
        for row in rows {
            let c = try row.decode((Int64, String, String, Int64?, Int64, Int64).self)
            categories.append(Category(id: c.0, slug: c.1, name: c.2, parentID: c.3, version: c.4, productCount: c.5))
        }
        return categories
    }

    public func category(id: Int64) async throws -> Category {
        let rows = try await catalog.readSQL(
            "SELECT id, slug, name, parent_id, version FROM categories WHERE id = \(id)")
        for row in rows {
            let c = try row.decode((Int64, String, String, Int64?, Int64).self)
            return Category(id: c.0, slug: c.1, name: c.2, parentID: c.3, version: c.4)
        }
        throw HybridError.categoryNotFound(id)
    }
}
