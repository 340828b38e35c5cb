import CacheLayer
import Hybrid

/// Delivers the hybrid model's invalidations to the cache (hard by default: once a write returns,
/// no reader is served its old bytes from Redis).
public struct CacheTagInvalidator<Value: Sendable>: TagInvalidator {
    let cache: ReadThroughCache<Value>
    let mode: ReadThroughCache<Value>.InvalidationMode

    public init(cache: ReadThroughCache<Value>, mode: ReadThroughCache<Value>.InvalidationMode = .hard) {
        self.cache = cache
        self.mode = mode
    }

    public func invalidate(_ tags: [CatalogTag]) async throws {
        try await cache.invalidate(tags: tags.map(\.description), mode: mode)
    }
}
