import Foundation
import Logging
import PostgresNIO

/// Creates, updates, moves and deletes products across both stores.
///
/// One PostgreSQL transaction writes the row and an outbox entry describing the document change and
/// the tags to invalidate. After commit the entry is delivered (MongoDB, then the cache) unless an
/// earlier change of the same product is still pending, in which case the relay delivers both in
/// order. Either way the write is durable once this returns.
public struct ProductWriter: Sendable {
    let catalog: HybridCatalog
    let delivery: OutboxDelivery

    public init(catalog: HybridCatalog, invalidator: any TagInvalidator) {
        self.catalog = catalog
        self.delivery = OutboxDelivery(catalog: catalog, invalidator: invalidator)
    }

    /// Creates a product at version 1.
    public func create(_ product: NewProduct) async throws -> WriteResult {
        try ProductValidation.validate(product)
        let set = product.storedDocument()
        let tags: [CatalogTag] = [.category(product.categoryID), .categories]
        return try await write(tags: tags) { connection in
            let rows = try await catalog.sql(
                """
                INSERT INTO products (id, sku, category_id, status, created_at, updated_at, price_e4)
                VALUES (
                    COALESCE(\(product.id), nextval(pg_get_serial_sequence('products', 'id'))),
                    \(product.sku), \(product.categoryID), \(product.status.rawValue),
                    COALESCE(\(product.createdAt), now()), now(), \(product.document.price.scaledValue))
                RETURNING \(unescaped: productColumns.replacingOccurrences(of: "p.", with: ""))
                """, on: connection)
            var row: ProductRow?
            for try await columns in rows.decode(ProductColumns.self) { row = ProductRow(columns: columns) }
            guard let row else { throw HybridError.invalidInput("the product was not created") }
            return (row, .upsert, set, [.product(row.id)])
        }
    }

    /// Applies a partial update, optionally only over `expectedVersion` (optimistic concurrency).
    public func update(id: Int64, expectedVersion: Int64? = nil, changes: ProductChanges) async throws -> WriteResult {
        try await update(id: id, expectedVersions: expectedVersion.map { [$0] }, changes: changes)
    }

    /// Applies a partial update only if the stored version is one of `expectedVersions` (`nil`:
    /// any; empty: none, as for an `If-Match` whose tags cannot match).
    public func update(id: Int64, expectedVersions: [Int64]?, changes: ProductChanges) async throws -> WriteResult {
        guard !changes.isEmpty else { throw HybridError.invalidInput("the update changes no field") }
        try ProductValidation.validate(changes)
        let set = changes.documentSet()
        return try await write(tags: [.product(id)]) { connection in
            let rows = try await catalog.sql(
                """
                UPDATE products p SET
                    sku = COALESCE(\(changes.sku), p.sku),
                    category_id = COALESCE(\(changes.categoryID), p.category_id),
                    status = COALESCE(\(changes.status?.rawValue), p.status),
                    price_e4 = COALESCE(\(changes.price?.scaledValue), p.price_e4),
                    updated_at = now(), version = p.version + 1
                FROM (SELECT id, category_id, status, price_e4 FROM products WHERE id = \(id) FOR UPDATE) old
                WHERE p.id = old.id
                    AND (\(expectedVersions)::bigint[] IS NULL OR p.version = ANY(\(expectedVersions)::bigint[]))
                RETURNING \(unescaped: productColumns), old.category_id, old.status, old.price_e4
                """, on: connection)
            var result: (ProductRow, Int64, String, Int64)?
            for try await c in rows.decode((Int64, String, Int64, String, Date, Date, Int64, Int64, String, Int64).self)
            {
                result = (ProductRow(columns: (c.0, c.1, c.2, c.3, c.4, c.5, c.6)), c.7, c.8, c.9)
            }
            guard let (row, oldCategory, oldStatus, oldPrice) = result else {
                throw try await missingOrConflict(id: id, expectedVersions: expectedVersions, connection: connection)
            }
            return (
                row, .upsert, set,
                Self.tags(of: changes, row: row, oldCategory: oldCategory, oldStatus: oldStatus, oldPrice: oldPrice)
            )
        }
    }

    /// What an update invalidates besides the product's own detail (see docs/cache.md, "What a
    /// write invalidates"): a move or status change the categories' membership; otherwise the
    /// listing pages that show the product when a listing field changed, and, when the price did,
    /// the category's price-sorted pages whose prices meet the interval between the old price and
    /// the new one (only there can the order change).
    static func tags(
        of changes: ProductChanges, row: ProductRow, oldCategory: Int64, oldStatus: String, oldPrice: Int64
    ) -> [CatalogTag] {
        var tags: [CatalogTag] = []
        if oldCategory != row.categoryID || oldStatus != row.status.rawValue {
            tags.append(.category(row.categoryID))
            if oldCategory != row.categoryID { tags.append(.category(oldCategory)) }
            tags.append(.categories)
            return tags
        }
        if changes.changesListingItem { tags.append(.listed(category: row.categoryID, product: row.id)) }
        if let price = changes.price?.scaledValue {
            tags.append(
                .priceRange(category: row.categoryID, low: min(oldPrice, price), high: max(oldPrice, price)))
        }
        return tags
    }

    /// Saves the document fields changed through the hybrid value's member access, guarded by the
    /// version it was loaded at.
    public func save(_ product: Product) async throws -> WriteResult {
        try await update(id: product.id, expectedVersion: product.version, changes: product.pendingChanges)
    }

    /// Moves a product to another category.
    public func move(id: Int64, toCategory categoryID: Int64, expectedVersion: Int64? = nil) async throws -> WriteResult
    {
        try await update(id: id, expectedVersion: expectedVersion, changes: ProductChanges(categoryID: categoryID))
    }

    /// Deletes a product from both stores.
    public func delete(id: Int64, expectedVersion: Int64? = nil) async throws -> WriteResult {
        try await delete(id: id, expectedVersions: expectedVersion.map { [$0] })
    }

    /// Deletes a product only if its version is one of `expectedVersions` (`nil`: any).
    public func delete(id: Int64, expectedVersions: [Int64]?) async throws -> WriteResult {
        try await write(tags: [.product(id), .categories]) { connection in
            let rows = try await catalog.sql(
                """
                DELETE FROM products
                WHERE id = \(id)
                    AND (\(expectedVersions)::bigint[] IS NULL OR version = ANY(\(expectedVersions)::bigint[]))
                RETURNING category_id, version
                """, on: connection)
            var deleted: (Int64, Int64)?
            for try await c in rows.decode((Int64, Int64).self) { deleted = c }
            guard let (categoryID, version) = deleted else {
                throw try await missingOrConflict(id: id, expectedVersions: expectedVersions, connection: connection)
            }
            let tombstone = ProductRow(
                id: id, sku: "", categoryID: categoryID, status: .archived, createdAt: Date(), updatedAt: Date(),
                version: version + 1)
            return (tombstone, .delete, [:], [.category(categoryID)])
        }
    }

    private func missingOrConflict(id: Int64, expectedVersions: [Int64]?, connection: PostgresConnection) async throws
        -> HybridError
    {
        let rows = try await catalog.sql("SELECT version FROM products WHERE id = \(id)", on: connection)
        for try await current in rows.decode(Int64.self) {
            return .versionConflict(id: id, expected: expectedVersions?.first ?? current, current: current)
        }
        return .productNotFound(id)
    }

    /// Runs the row change and the outbox insert in one transaction, then delivers the entry.
    private func write(
        tags baseTags: [CatalogTag],
        _ change:
            @escaping @Sendable (PostgresConnection) async throws -> (
                ProductRow, OutboxEntry.Operation, [String: JSONValue], [CatalogTag]
            )
    ) async throws -> WriteResult {
        let catalog = self.catalog
        let started = ContinuousClock.now
        let (entry, row): (OutboxEntry, ProductRow) = try await catalog.transaction { connection in
            let (row, operation, set, extraTags) = try await change(connection)
            var tags = baseTags
            for tag in extraTags where !tags.contains(tag) { tags.append(tag) }
            let payload = try OutboxEntry.encodePayload(set)
            // An entry behind an earlier pending or dead-lettered change of its product is the
            // relay's from the start (due now); any other is delivered right after the commit, and
            // the relay leaves it alone for 10 s meanwhile.
            let outbox = try await catalog.sql(
                """
                WITH earlier AS (
                    SELECT EXISTS (SELECT 1 FROM outbox o WHERE o.product_id = \(row.id))
                        OR EXISTS (SELECT 1 FROM outbox_dead_letters d WHERE d.product_id = \(row.id)) AS waits
                )
                INSERT INTO outbox (product_id, version, operation, payload, tags, next_attempt_at)
                SELECT \(row.id), \(row.version), \(operation.rawValue), \(payload)::jsonb, \(tags.map(\.description)),
                    CASE WHEN earlier.waits THEN now() ELSE now() + interval '10 seconds' END
                FROM earlier
                RETURNING id, (SELECT waits FROM earlier)
                """, on: connection)
            var outboxID: Int64 = 0
            var earlierPending = false
            for try await c in outbox.decode((Int64, Bool).self) { (outboxID, earlierPending) = c }
            let entry = OutboxEntry(
                id: outboxID, productID: row.id, version: row.version, operation: operation, set: set, tags: tags,
                documentApplied: false, attempts: earlierPending ? -1 : 0)
            return (entry, row)
        }
        catalog.stats.writeTransaction.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        let isDelete = entry.operation == .delete
        let resultRow = isDelete ? nil : row
        // attempts -1 marks an entry behind an earlier change of the same product: it must not
        // overtake it, so the relay delivers both in order.
        if entry.attempts < 0 {
            return WriteResult(
                row: resultRow, tags: entry.tags,
                state: .pending(
                    "an earlier change of product \(row.id) is still being applied (or is a dead letter an operator must retry or discard)"
                ), outboxID: entry.id)
        }
        if let reason = await delivery.deliver(entry) {
            return WriteResult(row: resultRow, tags: entry.tags, state: .pending(reason), outboxID: entry.id)
        }
        return WriteResult(row: resultRow, tags: entry.tags, state: .applied, outboxID: entry.id)
    }
}
