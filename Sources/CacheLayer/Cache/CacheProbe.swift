/// A test seam around the cache's Redis round trips: tests pause a reader, a filler or an
/// invalidation at an exact step to replay one interleaving deterministically. Production passes
/// none; the hot path then pays one `nil` check per step.
public protocol CacheProbe: Sendable {
    /// Called just before the step's command is sent; the step waits until this returns, and fails
    /// as if Redis had when it throws.
    func before(_ step: CacheStep, key: String) async throws
    /// Called once the step's reply has arrived, before the cache acts on it.
    func after(_ step: CacheStep, key: String) async
}

/// The cache's Redis round trips, as a probe sees them.
public enum CacheStep: String, Sendable, Hashable {
    /// A reader's `MGET` of the entry and its tags' generations (key: the entry key).
    case read
    /// A filler's conditional store `EVAL` (key: the entry key).
    case store
    /// An invalidation's generation bump `EVAL` (key: the tags, comma-separated).
    case invalidate
}
