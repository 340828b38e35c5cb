import Foundation

/// A committed change that must still reach MongoDB and the cache.
///
/// Written in the same PostgreSQL transaction as the row it describes, so a change that
/// committed can always be finished later; deleted once it has been applied everywhere.
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

    static func encodePayload(_ set: [String: JSONValue]) -> String {
        let data = (try? JSONEncoder().encode(JSONValue.object(set))) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func decodePayload(_ text: String) -> [String: JSONValue] {
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            return [:]
        }
        return fields
    }
}
