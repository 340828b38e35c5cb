import CacheLayer

/// `Cache-Status` values (RFC 9211) for each way a response was served.
///
/// Literals, not interpolations: a literal costs nothing per request, an interpolated string
/// longer than 15 bytes is a heap allocation on every answer.
enum CacheStatus {
    static let cacheName = "CatalogGateway"
    static let disabled = "CatalogGateway; fwd=bypass; detail=cache-off"
    static let nearHit = "CatalogGateway; hit; detail=near-cache"

    static func value(for outcome: CacheOutcome) -> String {
        switch outcome {
        case .nearHit: nearHit
        case .hit: "CatalogGateway; hit"
        case .stale(.expired): "CatalogGateway; hit; fwd=stale; detail=stale-while-revalidate"
        case .stale(.invalidated): "CatalogGateway; hit; fwd=stale; detail=soft-invalidated"
        case .stale(.refreshFailed): "CatalogGateway; hit; fwd=stale; fwd-status=503; detail=stale-if-error"
        case .miss(stored: true): "CatalogGateway; fwd=miss; stored"
        case .miss(stored: false): "CatalogGateway; fwd=miss; detail=invalidated-during-load"
        case .bypass: "CatalogGateway; fwd=bypass; detail=redis-unavailable"
        }
    }
}
