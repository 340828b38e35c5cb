import CMongoC
import Logging

/// The `products` collection: one document per product, `_id` = the product id.
///
/// Every write is guarded by `version`: a change applies only over an older version, so
/// replaying a change (the outbox relay retrying) is harmless and an old change never overwrites
/// a newer one.
public struct MongoProductCollection: Sendable {
    public let pool: MongoConnectionPool
    /// Bounds every operation on the server, so a slow query cannot hold a pooled thread.
    let maxTimeMS: Int64

    public init(pool: MongoConnectionPool, maxTimeMS: Int64 = 5000) {
        self.pool = pool
        self.maxTimeMS = maxTimeMS
    }

    /// The documents with the given ids, in one `$in` query; missing ids are absent from the result.
    public func documents(ids: [Int64]) async throws -> [Int64: StoredDocument] {
        guard !ids.isEmpty else { return [:] }
        let filter = BSONDocument(["_id": .object(["$in": .array(ids.map { .int($0) })])])
        let documents = try await find(filter: filter, options: BSONDocument(["maxTimeMS": .int(maxTimeMS)]))
        var byID: [Int64: StoredDocument] = [:]
        byID.reserveCapacity(documents.count)
        for document in documents { byID[document.id] = document }
        return byID
    }

    /// One document by id (`find_one`): the per-object loading mode's query.
    public func document(id: Int64) async throws -> StoredDocument? {
        let filter = BSONDocument(["_id": .int(id)])
        return try await find(filter: filter, options: BSONDocument(["limit": .int(1), "maxTimeMS": .int(maxTimeMS)]))
            .first
    }

    /// Applies a change at `version`: `$set` of the given stored fields and `version`, only over an
    /// older version or a missing document (upsert).
    ///
    /// - Returns: `true` when the change was applied, `false` when the document already had this
    ///   version or a newer one.
    @discardableResult
    public func apply(id: Int64, version: Int64, set fields: [String: JSONValue]) async throws -> Bool {
        let selector = BSONDocument(["_id": .int(id), "version": .object(["$lt": .int(version)])])
        var set = fields
        set["version"] = .int(version)
        let update = BSONDocument(["$set": .object(set)])
        let options = BSONDocument(["upsert": .bool(true)])
        nonisolated(unsafe) let arguments = (selector, update, options)
        return try await pool.withCollection { collection in
            var error = cmongoc_error_make()
            let ok = mongoc_collection_update_one(
                collection, arguments.0.pointer, arguments.1.pointer, arguments.2.pointer, nil, &error)
            if ok { return true }
            let failure = MongoError(error)
            // The selector missed because the stored version is not older, and the upsert then hit
            // the existing _id: the change is already superseded.
            if failure.isDuplicateKey { return false }
            throw failure
        }
    }

    /// Applies many changes; superseded ones are skipped.
    ///
    /// Changes at version 1 are first tried as plain inserts (several times faster than guarded
    /// upserts on a fresh import); the ones whose document already exists fall back to the
    /// version-guarded update like every other change.
    public func applyAll(_ changes: [(id: Int64, version: Int64, set: [String: JSONValue])]) async throws {
        guard !changes.isEmpty else { return }
        var guarded = changes.filter { $0.version > 1 }
        let fresh = changes.filter { $0.version <= 1 }
        if !fresh.isEmpty {
            let existing = try await insertAll(fresh)
            guarded += fresh.enumerated().filter { existing.contains($0.offset) }.map(\.element)
        }
        guard !guarded.isEmpty else { return }
        var operations: [(BSONDocument, BSONDocument)] = []
        operations.reserveCapacity(guarded.count)
        for change in guarded {
            var set = change.set
            set["version"] = .int(change.version)
            operations.append(
                (
                    BSONDocument(["_id": .int(change.id), "version": .object(["$lt": .int(change.version)])]),
                    BSONDocument(["$set": .object(set)])
                ))
        }
        nonisolated(unsafe) let prepared = operations
        try await pool.withCollection { collection in
            let bulkOptions = BSONDocument(["ordered": .bool(false)])
            let bulk = mongoc_collection_create_bulk_operation_with_opts(collection, bulkOptions.pointer)!
            defer { mongoc_bulk_operation_destroy(bulk) }
            let upsert = BSONDocument(["upsert": .bool(true)])
            for (selector, update) in prepared {
                var error = cmongoc_error_make()
                guard
                    mongoc_bulk_operation_update_one_with_opts(
                        bulk, selector.pointer, update.pointer, upsert.pointer, &error)
                else { throw MongoError(error) }
            }
            let (reply, failure) = executeBulk(bulk)
            // Duplicate keys are superseded changes (the guard missed an existing, newer document).
            if let failure, Self.failedIndexes(reply, code: 11000).count != Self.failedIndexes(reply, code: nil).count {
                throw failure
            }
        }
    }

    /// Inserts whole documents in one unordered bulk write.
    /// - Returns: the positions of the changes whose document already existed.
    private func insertAll(_ changes: [(id: Int64, version: Int64, set: [String: JSONValue])]) async throws -> Set<Int>
    {
        var documents: [BSONDocument] = []
        documents.reserveCapacity(changes.count)
        for change in changes {
            var fields = change.set
            fields["_id"] = .int(change.id)
            fields["version"] = .int(change.version)
            documents.append(BSONDocument(fields: fields))
        }
        nonisolated(unsafe) let prepared = documents
        return try await pool.withCollection { collection in
            let bulkOptions = BSONDocument(["ordered": .bool(false)])
            let bulk = mongoc_collection_create_bulk_operation_with_opts(collection, bulkOptions.pointer)!
            defer { mongoc_bulk_operation_destroy(bulk) }
            for document in prepared {
                var error = cmongoc_error_make()
                guard mongoc_bulk_operation_insert_with_opts(bulk, document.pointer, nil, &error) else {
                    throw MongoError(error)
                }
            }
            let (reply, failure) = executeBulk(bulk)
            guard let failure else { return [] }
            let duplicates = Self.failedIndexes(reply, code: 11000)
            guard !duplicates.isEmpty, duplicates.count == Self.failedIndexes(reply, code: nil).count else {
                throw failure
            }
            return duplicates
        }
    }

    /// The positions of a bulk write's failed operations, all or those with one error code.
    static func failedIndexes(_ reply: [String: JSONValue], code: Int64?) -> Set<Int> {
        guard case .array(let errors) = reply["writeErrors"] else { return [] }
        var indexes = Set<Int>()
        for case .object(let error) in errors {
            guard case .int(let index) = error["index"] else { continue }
            if let code {
                guard case .int(let actual) = error["code"], actual == code else { continue }
            }
            indexes.insert(Int(index))
        }
        return indexes
    }

    /// Deletes a product's document (a product id is never reused).
    public func delete(id: Int64) async throws {
        let selector = BSONDocument(["_id": .int(id)])
        nonisolated(unsafe) let captured = selector
        try await pool.withCollection { collection in
            var error = cmongoc_error_make()
            guard mongoc_collection_delete_one(collection, captured.pointer, nil, nil, &error) else {
                throw MongoError(error)
            }
        }
    }

    /// Creates the indexes listings need; creating an existing index is a no-op.
    public func ensureIndexes() async throws {
        // Listings take their order from PostgreSQL (migration 4) and ask MongoDB only for
        // documents by id; the price index of earlier versions is no longer created.
        let categoryIndex = BSONDocument([
            "name": .string("category_version"), "key": .object(["category_id": .int(1)]),
        ])
        let indexes = BSONDocument()
        bson_append_document(indexes.pointer, "0", -1, categoryIndex.pointer)
        let command = BSONDocument(["createIndexes": .string("products")])
        bson_append_array(command.pointer, "indexes", -1, indexes.pointer)
        _ = try await pool.command(command)
    }

    /// Counts documents matching a filter (tests and the import summary).
    public func count(categoryID: Int64? = nil) async throws -> Int64 {
        let filter = categoryID.map { BSONDocument(["category_id": .int($0)]) } ?? BSONDocument()
        nonisolated(unsafe) let captured = filter
        return try await pool.withCollection { collection in
            var error = cmongoc_error_make()
            let count = mongoc_collection_count_documents(collection, captured.pointer, nil, nil, nil, &error)
            guard count >= 0 else { throw MongoError(error) }
            return count
        }
    }

    /// Drops the whole database (tests only).
    public func dropDatabase() async throws {
        let databaseName = pool.databaseName
        try await pool.withClient { client in
            let database = mongoc_client_get_database(client, databaseName)!
            defer { mongoc_database_destroy(database) }
            var error = cmongoc_error_make()
            guard mongoc_database_drop(database, &error) else { throw MongoError(error) }
        }
    }

    /// Checks that the server answers a ping.
    public func ping() async throws {
        _ = try await pool.command(BSONDocument(["ping": .int(1)]))
    }

    /// Executes a bulk write, returning its reply even when it failed (the reply names the
    /// operations that failed).
    private func executeBulk(_ bulk: OpaquePointer) -> ([String: JSONValue], MongoError?) {
        let reply = cmongoc_reply_new()!
        defer { cmongoc_reply_free(reply) }
        var error = cmongoc_error_make()
        let ok = mongoc_bulk_operation_execute(bulk, reply, &error) != 0
        return (BSONDocument.fields(of: reply), ok ? nil : MongoError(error))
    }

    private func find(filter: BSONDocument, options: BSONDocument) async throws -> [StoredDocument] {
        nonisolated(unsafe) let arguments = (filter, options)
        return try await pool.withCollection { collection in
            let cursor = mongoc_collection_find_with_opts(collection, arguments.0.pointer, arguments.1.pointer, nil)!
            defer { mongoc_cursor_destroy(cursor) }
            var results: [StoredDocument] = []
            var current: OpaquePointer?
            while mongoc_cursor_next(cursor, &current) {
                guard let current, let stored = StoredDocument(fields: BSONDocument.fields(of: current)) else {
                    continue
                }
                results.append(stored)
            }
            var error = cmongoc_error_make()
            if mongoc_cursor_error(cursor, &error) { throw MongoError(error) }
            return results
        }
    }
}
