import CacheLayer
import Hybrid
import Logging

extension CacheTagInvalidator {
    /// An invalidator for a process that writes without caching (import, seed, a gateway with the
    /// cache off): it bumps the tags in Redis under the configured key scheme and tells every
    /// gateway's near-cache, like a caching process would.
    public static func withoutCache(redis: RedisClient, configuration: GatewayConfiguration) -> Self {
        CacheTagInvalidator(generations: TagGenerations(redis: redis, scheme: configuration.cacheKeyScheme))
    }
}

extension Backends {
    /// The cache invalidator of a command that writes without serving, and the Redis client it uses
    /// (close it when done).
    public static func invalidator(configuration: GatewayConfiguration, logger: Logger) throws -> (
        any TagInvalidator, RedisClient
    ) {
        let redis = RedisClient(configuration: try configuration.redisConfiguration(), logger: logger)
        return (CacheTagInvalidator.withoutCache(redis: redis, configuration: configuration), redis)
    }
}
