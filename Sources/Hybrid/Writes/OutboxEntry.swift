import Foundation

/// A committed change that must still reach MongoDB and the cache.
///
/// Written in the same PostgreSQL transaction as the row it describes, so a change that
/// committed can always be finished later; deleted once it has been applied everywhere, or moved
/// to the dead letters (never dropped) when it cannot be.
public struct OutboxEntry: Sendable, Hashable {
    public enum Operation: String, Sendable, Hashable {
        /// `$set` the payload's fields on the product's document at `version`.
        case upsert
        /// Remove the product's document.
        case delete
        /// Nothing to apply to MongoDB: only invalidate the tags (category writes).
        case invalidate
    }

    public var id: Int64
    public var productID: Int64?
    public var version: Int64
    public var operation: Operation
    /// The stored document fields to `$set` (upserts only).
    public var set: [String: JSONValue]
    public var tags: [CatalogTag]
    public var documentApplied: Bool
    public var attempts: Int

    /// The payload column's text.
    /// - Throws: `HybridError.invalidInput` when the change cannot be recorded (a number JSON
    ///   cannot carry): the write is refused rather than committed with a change that would be lost.
    static func encodePayload(_ set: [String: JSONValue]) throws -> String {
        do {
            return String(decoding: try JSONEncoder().encode(JSONValue.object(set)), as: UTF8.self)
        } catch {
            throw HybridError.invalidInput("the change cannot be recorded: \(error)")
        }
    }

    /// An entry as stored, read back; every part must be understood, or the entry is not applied.
    /// - Throws: `OutboxEntry.Unreadable` saying which part is not.
    init(
        id: Int64, productID: Int64?, version: Int64, operation: String, payload: String, tags: [String],
        documentApplied: Bool, attempts: Int
    ) throws {
        guard let known = Operation(rawValue: operation) else {
            throw Unreadable(reason: "unknown operation '\(operation.prefix(40))'")
        }
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(payload.utf8)) else {
            throw Unreadable(reason: "the payload is not a JSON object")
        }
        var parsed: [CatalogTag] = []
        for tag in tags {
            guard let value = CatalogTag(tag) else { throw Unreadable(reason: "unknown tag '\(tag.prefix(80))'") }
            parsed.append(value)
        }
        if known != .invalidate, productID == nil { throw Unreadable(reason: "an \(operation) names no product") }
        self.init(
            id: id, productID: productID, version: version, operation: known, set: fields, tags: parsed,
            documentApplied: documentApplied, attempts: attempts)
    }

    init(
        id: Int64, productID: Int64?, version: Int64, operation: Operation, set: [String: JSONValue],
        tags: [CatalogTag], documentApplied: Bool, attempts: Int
    ) {
        self.id = id
        self.productID = productID
        self.version = version
        self.operation = operation
        self.set = set
        self.tags = tags
        self.documentApplied = documentApplied
        self.attempts = attempts
    }

    /// A stored entry this version cannot read (a newer version wrote it, or it was damaged).
    struct Unreadable: Error, CustomStringConvertible {
        let reason: String
        var description: String { "cannot be read: \(reason)" }
    }
}
