import Foundation
import Logging
import PostgresNIO

/// Partial updates of many products at once (price and stock feeds): one PostgreSQL transaction
/// per batch writes the rows and one outbox entry per product; after the commit one MongoDB bulk
/// write applies the documents and one invalidation carries the batch's tags, deduplicated.
///
/// Each item succeeds or fails on its own: a missing product, a version that does not match or a
/// category that does not exist leaves the other items applied.
public struct ProductBatchWriter: Sendable {
    /// One item of a batch: the product, the version it must be at (optional), the changes.
    public struct Update: Sendable, Hashable {
        public var id: Int64
        public var expectedVersion: Int64?
        public var changes: ProductChanges

        public init(id: Int64, expectedVersion: Int64? = nil, changes: ProductChanges) {
            self.id = id
            self.expectedVersion = expectedVersion
            self.changes = changes
        }
    }

    /// What became of one item.
    public enum Outcome: Sendable, Hashable {
        /// Written and applied everywhere, at this version.
        case applied(version: Int64)
        /// Written (durable) at this version; MongoDB or the cache has not caught up yet.
        case pending(version: Int64)
        case notFound
        case versionConflict(current: Int64)
        /// The item's category does not exist.
        case unknownCategory(Int64)
    }

    public static let maximumItems = 1000

    let catalog: HybridCatalog
    let invalidator: any TagInvalidator

    public init(catalog: HybridCatalog, invalidator: any TagInvalidator) {
        self.catalog = catalog
        self.invalidator = invalidator
    }

    /// Applies `updates` (distinct ids, each validated, at most `maximumItems`).
    /// - Returns: the outcome of each item, in order, and why pending items are pending.
    /// - Throws: `HybridError` for the batch as a whole (invalid input, a database unavailable, a
    ///   duplicate sku).
    public func update(_ updates: [Update]) async throws -> (outcomes: [Outcome], pendingReason: String?) {
        guard updates.count <= Self.maximumItems else {
            throw HybridError.invalidInput("at most \(Self.maximumItems) updates per request, got \(updates.count)")
        }
        var seen: Set<Int64> = []
        for update in updates {
            guard seen.insert(update.id).inserted else {
                throw HybridError.invalidInput("product \(update.id) appears more than once")
            }
            guard !update.changes.isEmpty else {
                throw HybridError.invalidInput("the update of product \(update.id) changes no field")
            }
            try ProductValidation.validate(update.changes)
        }
        guard !updates.isEmpty else { return ([], nil) }
        let catalog = self.catalog
        let (outcomes, entries) = try await catalog.transaction { connection in
            try await Self.write(updates, catalog: catalog, on: connection)
        }
        let pendingReason = await deliver(entries)
        let final = outcomes.map { outcome -> Outcome in
            guard case .applied(let version) = outcome else { return outcome }
            return pendingReason == nil ? .applied(version: version) : .pending(version: version)
        }
        return (final, pendingReason)
    }

    private static func write(_ updates: [Update], catalog: HybridCatalog, on connection: PostgresConnection)
        async throws -> ([Outcome], [OutboxEntry])
    {
        let ids = updates.map(\.id)
        var old: [Int64: (category: Int64, status: String, version: Int64, price: Int64)] = [:]
        let locked = try await catalog.sql(
            """
            SELECT id, category_id, status, version, price_e4 FROM products WHERE id = ANY(\(ids))
            ORDER BY id FOR UPDATE
            """, on: connection)
        for try await (id, category, status, version, price) in locked.decode((Int64, Int64, String, Int64, Int64).self)
        {
            old[id] = (category, status, version, price)
        }
        let wantedCategories = Array(Set(updates.compactMap(\.changes.categoryID)))
        var knownCategories: Set<Int64> = []
        if !wantedCategories.isEmpty {
            let rows = try await catalog.sql(
                "SELECT id FROM categories WHERE id = ANY(\(wantedCategories))", on: connection)
            for try await id in rows.decode(Int64.self) { knownCategories.insert(id) }
        }
        var outcomes: [Outcome] = []
        var applying: [Update] = []
        for update in updates {
            guard let current = old[update.id] else {
                outcomes.append(.notFound)
                continue
            }
            if let expected = update.expectedVersion, expected != current.version {
                outcomes.append(.versionConflict(current: current.version))
                continue
            }
            if let category = update.changes.categoryID, !knownCategories.contains(category) {
                outcomes.append(.unknownCategory(category))
                continue
            }
            outcomes.append(.applied(version: current.version + 1))
            applying.append(update)
        }
        guard !applying.isEmpty else { return (outcomes, []) }
        // Arrays carry "unchanged" as '' / 0 / -1 (a sku is never empty, ids are positive, prices
        // never negative).
        let rows = try await catalog.sql(
            """
            UPDATE products p SET
                sku = COALESCE(NULLIF(t.sku, ''), p.sku),
                category_id = COALESCE(NULLIF(t.category_id, 0), p.category_id),
                status = COALESCE(NULLIF(t.status, ''), p.status),
                price_e4 = COALESCE(NULLIF(t.price_e4, -1), p.price_e4),
                updated_at = now(), version = p.version + 1
            FROM unnest(\(applying.map(\.id))::bigint[], \(applying.map { $0.changes.sku ?? "" })::text[],
                \(applying.map { $0.changes.categoryID ?? 0 })::bigint[],
                \(applying.map { $0.changes.status?.rawValue ?? "" })::text[],
                \(applying.map { $0.changes.price?.scaledValue ?? -1 })::bigint[])
                AS t(id, sku, category_id, status, price_e4)
            WHERE p.id = t.id
            RETURNING \(unescaped: productColumns)
            """, on: connection)
        var written: [Int64: ProductRow] = [:]
        for try await columns in rows.decode(ProductColumns.self) {
            let row = ProductRow(columns: columns)
            written[row.id] = row
        }
        var entryIDs: [Int64] = []
        var versions: [Int64] = []
        var payloads: [String] = []
        var tagLists: [String] = []
        var sets: [Int64: [String: JSONValue]] = [:]
        var tagsByID: [Int64: [CatalogTag]] = [:]
        for update in applying {
            guard let row = written[update.id], let before = old[update.id] else { continue }
            let set = update.changes.documentSet()
            var tags: [CatalogTag] = [.product(row.id)]
            for tag in ProductWriter.tags(
                of: update.changes, row: row, oldCategory: before.category, oldStatus: before.status,
                oldPrice: before.price)
            where !tags.contains(tag) {
                tags.append(tag)
            }
            entryIDs.append(row.id)
            versions.append(row.version)
            payloads.append(try OutboxEntry.encodePayload(set))
            tagLists.append(tags.map(\.description).joined(separator: " "))
            sets[row.id] = set
            tagsByID[row.id] = tags
        }
        // An entry behind an earlier pending (or dead-lettered) change of its product is the
        // relay's, in order; the others are delivered right after the commit.
        let inserted = try await catalog.sql(
            """
            INSERT INTO outbox (product_id, version, operation, payload, tags, next_attempt_at)
            SELECT t.id, t.version, 'upsert', t.payload::jsonb, string_to_array(t.tags, ' '),
                CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.product_id = t.id)
                    OR EXISTS (SELECT 1 FROM outbox_dead_letters d WHERE d.product_id = t.id)
                THEN now() ELSE now() + interval '10 seconds' END
            FROM unnest(\(entryIDs)::bigint[], \(versions)::bigint[], \(payloads)::text[], \(tagLists)::text[])
                AS t(id, version, payload, tags)
            RETURNING id, product_id, version, next_attempt_at <= now()
            """, on: connection)
        var entries: [OutboxEntry] = []
        for try await (outboxID, productID, version, waits) in inserted.decode((Int64, Int64, Int64, Bool).self) {
            entries.append(
                OutboxEntry(
                    id: outboxID, productID: productID, version: version, operation: .upsert,
                    set: sets[productID] ?? [:], tags: tagsByID[productID] ?? [], documentApplied: false,
                    attempts: waits ? -1 : 0))
        }
        return (outcomes, entries)
    }

    /// One bulk write to MongoDB, one invalidation of the batch's tags (deduplicated), one delete
    /// of the delivered entries. Entries behind earlier changes are left to the relay.
    /// - Returns: `nil` when every entry was delivered, else why not (in words a client may see).
    private func deliver(_ entries: [OutboxEntry]) async -> String? {
        let ready = entries.filter { $0.attempts >= 0 }
        let reason: String? =
            ready.count < entries.count
            ? "some products have an earlier change still being applied; the relay applies these in order" : nil
        guard !ready.isEmpty else { return reason }
        do {
            try await catalog.mongo.applyAll(
                ready.compactMap { entry in entry.productID.map { ($0, entry.version, entry.set) } })
        } catch {
            catalog.logger.warning(
                "bulk update left for the relay (MongoDB)", metadata: ["error": "\(String(reflecting: error))"])
            return "MongoDB is unavailable; the changes will be applied when it is back"
        }
        var tags: [CatalogTag] = []
        var seen: Set<CatalogTag> = []
        for entry in ready { for tag in entry.tags where seen.insert(tag).inserted { tags.append(tag) } }
        do {
            for start in stride(from: 0, to: tags.count, by: 1000) {
                try await invalidator.invalidate(Array(tags[start..<min(tags.count, start + 1000)]))
            }
        } catch {
            catalog.logger.warning(
                "bulk update's invalidation left for the relay", metadata: ["error": "\(String(reflecting: error))"])
            _ = try? await catalog.sql(
                "UPDATE outbox SET document_applied = true WHERE id = ANY(\(ready.map(\.id)))")
            return "the cache (Redis) is unavailable; the changes will be applied when it is back"
        }
        do {
            try await catalog.sql("DELETE FROM outbox WHERE id = ANY(\(ready.map(\.id)))")
        } catch {
            // Applied everywhere; the relay applies them again harmlessly and removes them.
            catalog.logger.notice(
                "bulk update applied but its outbox entries not removed",
                metadata: ["error": "\(String(reflecting: error))"])
        }
        return reason
    }
}
