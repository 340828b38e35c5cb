import CacheLayer

/// `Cache-Status` values (RFC 9211) for each way a response was served.
enum CacheStatus {
    static let cacheName = "CatalogGateway"
    static let disabled = "\(cacheName); fwd=bypass; detail=cache-off"

    static func value(for outcome: CacheOutcome) -> String {
        switch outcome {
        case .nearHit: "\(cacheName); hit; detail=near-cache"
        case .hit: "\(cacheName); hit"
        case .stale(.expired): "\(cacheName); hit; fwd=stale; detail=stale-while-revalidate"
        case .stale(.invalidated): "\(cacheName); hit; fwd=stale; detail=soft-invalidated"
        case .stale(.refreshFailed): "\(cacheName); hit; fwd=stale; fwd-status=503; detail=stale-if-error"
        case .miss(stored: true): "\(cacheName); fwd=miss; stored"
        case .miss(stored: false): "\(cacheName); fwd=miss; detail=invalidated-during-load"
        case .bypass: "\(cacheName); fwd=bypass; detail=redis-unavailable"
        }
    }
}
