/// What a write did: the row as committed, the cache tags it affects, and whether MongoDB and the
/// cache have caught up yet.
public struct WriteResult: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        /// Committed, applied to MongoDB and invalidated in the cache.
        case applied
        /// Committed and durable in the outbox; the relay finishes it (the reason says why not yet).
        case pending(String)
    }

    /// The row after the write; `nil` after a delete.
    public var row: ProductRow?
    public var tags: [CatalogTag]
    public var state: State
    /// The outbox entry that carries the change to the other stores.
    public var outboxID: Int64
}
