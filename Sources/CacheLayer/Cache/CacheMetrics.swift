import Metrics

/// The cache's counters, created once (swift-metrics handles are not free to create per call).
struct CacheMetrics: Sendable {
    let nearHits = Counter(label: "cache_requests_total", dimensions: [("outcome", "near_hit")])
    let hits = Counter(label: "cache_requests_total", dimensions: [("outcome", "hit")])
    let stale = Counter(label: "cache_requests_total", dimensions: [("outcome", "stale")])
    let misses = Counter(label: "cache_requests_total", dimensions: [("outcome", "miss")])
    let bypasses = Counter(label: "cache_requests_total", dimensions: [("outcome", "bypass")])
    let fills = Counter(label: "cache_fills_total")
    let fillsRefused = Counter(label: "cache_fills_not_stored_total")
    let leaseWaits = Counter(label: "cache_lease_waits_total")
    let hardInvalidations = Counter(label: "cache_invalidations_total", dimensions: [("mode", "hard")])
    let softInvalidations = Counter(label: "cache_invalidations_total", dimensions: [("mode", "soft")])
    let redisErrors = Counter(label: "cache_redis_errors_total")
    let nearBytes = Gauge(label: "cache_near_bytes")

    func record(_ outcome: CacheOutcome) {
        switch outcome {
        case .nearHit: nearHits.increment()
        case .hit: hits.increment()
        case .stale: stale.increment()
        case .miss: misses.increment()
        case .bypass: bypasses.increment()
        }
    }
}
