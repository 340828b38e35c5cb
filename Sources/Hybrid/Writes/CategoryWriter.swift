import Logging
import PostgresNIO

/// Creates, renames and deletes categories. Categories live in PostgreSQL only; the tags to
/// invalidate still go through the outbox, so a cache outage cannot lose them.
public struct CategoryWriter: Sendable {
    let catalog: HybridCatalog
    let delivery: OutboxDelivery

    public init(catalog: HybridCatalog, invalidator: any TagInvalidator) {
        self.catalog = catalog
        self.delivery = OutboxDelivery(catalog: catalog, invalidator: invalidator)
    }

    public func create(id: Int64? = nil, slug: String, name: String, parentID: Int64? = nil) async throws -> (
        Category, WriteResult.State
    ) {
        try Self.validate(slug: slug, name: name)
        return try await write { connection in
            let rows = try await catalog.sql(
                """
                INSERT INTO categories (id, slug, name, parent_id)
                VALUES (COALESCE(\(id), nextval(pg_get_serial_sequence('categories', 'id'))), \(slug), \(name), \(parentID))
                RETURNING id, slug, name, parent_id, version
                """, on: connection)
            for try await c in rows.decode((Int64, String, String, Int64?, Int64).self) {
                return Category(id: c.0, slug: c.1, name: c.2, parentID: c.3, version: c.4)
            }
            throw HybridError.invalidInput("the category was not created")
        }
    }

    public func update(
        id: Int64, expectedVersion: Int64? = nil, slug: String? = nil, name: String? = nil, parentID: Int64? = nil
    ) async throws -> (Category, WriteResult.State) {
        try await update(
            id: id, expectedVersions: expectedVersion.map { [$0] }, slug: slug, name: name, parentID: parentID)
    }

    /// Renames or moves a category only if its version is one of `expectedVersions` (`nil`: any).
    public func update(
        id: Int64, expectedVersions: [Int64]?, slug: String? = nil, name: String? = nil, parentID: Int64? = nil
    ) async throws -> (Category, WriteResult.State) {
        if let slug { try Self.validate(slug: slug, name: "x") }
        if let name { try Self.validate(slug: "x", name: name) }
        if let parentID, parentID == id { throw HybridError.invalidInput("a category cannot be its own parent") }
        // Listing pages show a category's id only: a rename or move changes the list of categories.
        return try await write(pages: false) { connection in
            let rows = try await catalog.sql(
                """
                UPDATE categories SET slug = COALESCE(\(slug), slug), name = COALESCE(\(name), name),
                    parent_id = COALESCE(\(parentID), parent_id), updated_at = now(), version = version + 1
                WHERE id = \(id)
                    AND (\(expectedVersions)::bigint[] IS NULL OR version = ANY(\(expectedVersions)::bigint[]))
                RETURNING id, slug, name, parent_id, version
                """, on: connection)
            for try await c in rows.decode((Int64, String, String, Int64?, Int64).self) {
                return Category(id: c.0, slug: c.1, name: c.2, parentID: c.3, version: c.4)
            }
            let current = try await catalog.sql("SELECT version FROM categories WHERE id = \(id)", on: connection)
            for try await version in current.decode(Int64.self) {
                throw HybridError.versionConflict(
                    id: id, expected: expectedVersions?.first ?? version, current: version)
            }
            throw HybridError.categoryNotFound(id)
        }
    }

    /// Deletes an empty category.
    public func delete(id: Int64) async throws -> WriteResult.State {
        let (_, state) = try await write { connection in
            let products = try await catalog.sql(
                "SELECT count(*) FROM products WHERE category_id = \(id)", on: connection)
            for try await count in products.decode(Int64.self) where count > 0 {
                throw HybridError.categoryNotEmpty(id)
            }
            let rows = try await catalog.sql(
                "DELETE FROM categories WHERE id = \(id) RETURNING id, slug, name, parent_id, version", on: connection)
            for try await c in rows.decode((Int64, String, String, Int64?, Int64).self) {
                return Category(id: c.0, slug: c.1, name: c.2, parentID: c.3, version: c.4)
            }
            throw HybridError.categoryNotFound(id)
        }
        return state
    }

    private static func validate(slug: String, name: String) throws {
        guard !slug.isEmpty, slug.utf8.count <= 100,
            slug.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 })
        else {
            throw HybridError.invalidInput(
                "slug must be 1 to 100 characters of a-z, 0-9 and '-', got '\(ProductValidation.printable(slug))'")
        }
        guard !name.trimmingWhitespace.isEmpty, name.count <= 200 else {
            throw HybridError.invalidInput("name must be 1 to 200 characters")
        }
        try ProductValidation.validateText(name, field: "name", allowingLineBreaks: false)
    }

    /// - Parameter pages: the change reaches the category's pages too (a create or delete: a page
    ///   cached as "not found", or pages of a category that is gone).
    private func write(
        pages: Bool = true, _ change: @escaping @Sendable (PostgresConnection) async throws -> Category
    ) async throws -> (Category, WriteResult.State) {
        let catalog = self.catalog
        let (category, entry): (Category, OutboxEntry) = try await catalog.transaction { connection in
            let category = try await change(connection)
            let tags: [CatalogTag] = pages ? [.categories, .category(category.id)] : [.categories]
            let rows = try await catalog.sql(
                """
                INSERT INTO outbox (version, operation, tags, next_attempt_at)
                VALUES (\(category.version), 'invalidate', \(tags.map(\.description)), now() + interval '10 seconds')
                RETURNING id
                """, on: connection)
            var id: Int64 = 0
            for try await value in rows.decode(Int64.self) { id = value }
            let entry = OutboxEntry(
                id: id, productID: nil, version: category.version, operation: .invalidate, set: [:], tags: tags,
                documentApplied: true, attempts: 0)
            return (category, entry)
        }
        if let reason = await delivery.deliver(entry) { return (category, .pending(reason)) }
        return (category, .applied)
    }
}
