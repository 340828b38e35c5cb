import CacheLayer
import Hybrid

/// Delivers the hybrid model's invalidations to the cache (hard by default: once a write returns,
/// no reader is served its old bytes).
///
/// A serving process invalidates through its cache, which also fences its own near-cache and
/// shared loads; a process that writes without serving bumps the tag generations alone.
public struct CacheTagInvalidator: TagInvalidator {
    private let invalidate: @Sendable ([String]) async throws -> Void

    public init<Value: Sendable>(cache: ReadThroughCache<Value>, mode: InvalidationMode = .hard) {
        invalidate = { try await cache.invalidate(tags: $0, mode: mode) }
    }

    public init(generations: TagGenerations, mode: InvalidationMode = .hard) {
        invalidate = { try await generations.invalidate($0, mode: mode) }
    }

    public func invalidate(_ tags: [CatalogTag]) async throws {
        try await invalidate(tags.map(\.description))
    }
}
