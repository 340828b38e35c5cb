import Foundation
import Logging
import PostgresNIO

/// Writes a batch of imported products to both stores in a fixed number of round trips.
///
/// One statement upserts the categories, one upserts the rows and records an outbox entry per
/// product (same transaction); one bulk write applies the documents to MongoDB; then the tags are
/// invalidated and the outbox entries removed. A failure after the commit leaves the entries for
/// the relay, so no product is ever left in one store only.
struct CatalogBatchWriter: Sendable {
    let catalog: HybridCatalog
    let invalidator: any TagInvalidator

    /// - Returns: how many products are still pending in the outbox (0 when fully applied).
    func write(_ records: [ImportRecord]) async throws -> Int {
        // Within a batch the last line for an id wins, as if the lines were imported one by one.
        var byID: [Int64: ImportRecord] = [:]
        var order: [Int64] = []
        for record in records {
            if byID.updateValue(record, forKey: record.id) == nil { order.append(record.id) }
        }
        let unique = order.map { byID[$0]! }
        var categories: [Int64: ImportRecord.CategoryReference] = [:]
        for record in unique { categories[record.category.id] = record.category }
        let categoryIDs = categories.keys.sorted()
        let categorySlugs = categoryIDs.map { categories[$0]!.slug }
        let categoryNames = categoryIDs.map { categories[$0]!.name }

        let ids = unique.map(\.id)
        let skus = unique.map(\.product.sku)
        let productCategories = unique.map(\.product.categoryID)
        let statuses = unique.map(\.product.status.rawValue)
        let created = unique.map { $0.product.createdAt ?? Date() }
        let prices = unique.map { $0.product.document.price.scaledValue }
        let payloads = try unique.map { try OutboxEntry.encodePayload($0.product.storedDocument()) }
        let logger = catalog.logger
        let catalog = self.catalog

        let applied: [(outboxID: Int64, productID: Int64, version: Int64, tags: [String])] =
            try await catalog.transaction { connection in
                try await catalog.sql(
                    """
                    INSERT INTO categories (id, slug, name)
                    SELECT * FROM unnest(\(categoryIDs)::bigint[], \(categorySlugs)::text[],
                        \(categoryNames)::text[])
                    ON CONFLICT (id) DO UPDATE SET slug = EXCLUDED.slug, name = EXCLUDED.name, updated_at = now(),
                        version = categories.version + 1
                    WHERE (categories.slug, categories.name) IS DISTINCT FROM (EXCLUDED.slug, EXCLUDED.name)
                    """, on: connection)
                let rows = try await catalog.sql(
                    """
                    WITH input AS (
                        SELECT * FROM unnest(\(ids)::bigint[], \(skus)::text[], \(productCategories)::bigint[],
                            \(statuses)::text[], \(created)::timestamptz[], \(payloads)::text[], \(prices)::bigint[])
                            AS t(id, sku, category_id, status, created_at, payload, price_e4)
                    ),
                    old AS (SELECT p.id, p.category_id FROM products p JOIN input USING (id)),
                    up AS (
                        INSERT INTO products (id, sku, category_id, status, created_at, updated_at, price_e4)
                        SELECT id, sku, category_id, status, created_at, now(), price_e4 FROM input
                        ON CONFLICT (id) DO UPDATE SET sku = EXCLUDED.sku, category_id = EXCLUDED.category_id,
                            status = EXCLUDED.status, created_at = EXCLUDED.created_at, updated_at = now(),
                            price_e4 = EXCLUDED.price_e4,
                            version = products.version + 1
                        RETURNING id, version, category_id
                    )
                    INSERT INTO outbox (product_id, version, operation, payload, tags, next_attempt_at)
                    SELECT up.id, up.version, 'upsert', input.payload::jsonb,
                        ARRAY['product:' || up.id, 'category:' || up.category_id, 'categories']
                            || CASE WHEN old.category_id IS NOT NULL AND old.category_id <> up.category_id
                                THEN ARRAY['category:' || old.category_id] ELSE '{}'::text[] END,
                        now() + interval '1 minute'
                    FROM up JOIN input USING (id) LEFT JOIN old USING (id)
                    RETURNING id, product_id, version, tags
                    """, on: connection)
                var applied: [(Int64, Int64, Int64, [String])] = []
                for try await c in rows.decode((Int64, Int64, Int64, [String]).self) { applied.append(c) }
                return applied
            }

        let versions = Dictionary(uniqueKeysWithValues: applied.map { ($0.productID, $0.version) })
        let changes = unique.compactMap { record -> (id: Int64, version: Int64, set: [String: JSONValue])? in
            versions[record.id].map { (record.id, $0, record.product.storedDocument()) }
        }
        do {
            try await catalog.mongo.applyAll(changes)
        } catch {
            let reason = (error as? MongoError)?.hybridError.description ?? "\(error)"
            logger.warning(
                "batch left in the outbox", metadata: ["products": "\(applied.count)", "reason": "\(reason)"])
            throw CatalogImportError.storesUnavailable(pending: applied.count, reason: reason)
        }
        var tags = Set<CatalogTag>()
        for entry in applied { for tag in entry.tags { if let parsed = CatalogTag(tag) { tags.insert(parsed) } } }
        let outboxIDs = applied.map(\.outboxID)
        do {
            try await invalidator.invalidate(Array(tags))
        } catch {
            // The documents are applied; only the invalidations wait, for the relay of a running
            // gateway. The import goes on.
            try await catalog.sql(
                """
                UPDATE outbox SET document_applied = true, next_attempt_at = now(), last_error = \("\(error)")
                WHERE id = ANY(\(outboxIDs))
                """)
            return applied.count
        }
        try await catalog.sql("DELETE FROM outbox WHERE id = ANY(\(outboxIDs))")
        return 0
    }

    /// Moves the id sequences past imported ids, so ids assigned later never collide.
    func advanceSequences() async throws {
        try await catalog.sql(
            """
            SELECT setval(pg_get_serial_sequence('products', 'id'), GREATEST((SELECT max(id) FROM products), 1)),
                setval(pg_get_serial_sequence('categories', 'id'), GREATEST((SELECT max(id) FROM categories), 1))
            """)
    }
}

/// Why an import stopped.
public enum CatalogImportError: Error, Sendable, CustomStringConvertible {
    /// A batch committed to PostgreSQL but could not reach MongoDB or the cache: its products are in
    /// the outbox and reach the other stores when the relay runs (`gateway serve`, or `import` again).
    case storesUnavailable(pending: Int, reason: String)
    /// `--on-error=abort` and a line was refused.
    case aborted(ImportLineError)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .storesUnavailable(let pending, let reason):
            "stopped: \(reason); \(pending) committed products wait in the outbox and will be applied by the relay"
        case .aborted(let error): "stopped at the first bad line (--on-error=abort): \(error)"
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        }
    }
}
