import CacheLayer

extension GatewayConfiguration {
    /// The cache policy the settings describe.
    public var cachePolicy: CachePolicy {
        var policy = CachePolicy()
        policy.softTTL = softTTL
        policy.hardTTL = hardTTL
        policy.negativeTTL = negativeTTL
        policy.nearCacheTTL = nearCacheTTL
        policy.invalidationPingInterval = invalidationPingInterval
        policy.invalidationTimeout = invalidationTimeout
        policy.refreshConcurrency = refreshConcurrency
        policy.refreshQueueLimit = refreshQueueLimit
        policy.refreshAhead = refreshAhead
        return policy
    }

    /// `Cache-Control` of storefront answers: fresh for the soft TTL, then stale-while-revalidate
    /// until the hard TTL.
    public var cacheControl: String {
        CatalogResponder.cacheControl(softTTL: softTTL, hardTTL: hardTTL)
    }

    /// Version 3: entries record their dependency tags (version 2: the payload carries a gzip body,
    /// the format of `PreparedResponse`). A new version starts from an empty keyspace, so gateways
    /// of an older version never read entries they cannot invalidate.
    public var cacheKeyScheme: CacheKeyScheme { CacheKeyScheme(prefix: cachePrefix, version: 3) }

    /// The Redis settings, with the URL validated.
    public func redisConfiguration() throws -> RedisConfiguration {
        do {
            var configuration = try RedisConfiguration(url: redisURL)
            configuration.commandTimeout = .milliseconds(Int64(redisTimeout / .milliseconds(1)))
            return configuration
        } catch {
            throw ConfigurationError(setting: "GATEWAY_REDIS_URL", message: "\(error)")
        }
    }
}
