import CacheLayer
import Hybrid
import Logging
import NIOCore

extension Backends {
    /// The cache invalidator of a command that writes without serving (import, seed): it bumps
    /// the tags in Redis and tells every gateway's near-cache, like a serving process would.
    public static func invalidator(configuration: GatewayConfiguration, logger: Logger) throws -> (
        any TagInvalidator, RedisClient
    ) {
        let redisConfiguration: RedisConfiguration
        do {
            redisConfiguration = try RedisConfiguration(url: configuration.redisURL)
        } catch {
            throw ConfigurationError(setting: "GATEWAY_REDIS_URL", message: "\(error)")
        }
        let redis = RedisClient(configuration: redisConfiguration, logger: logger)
        let cache = ReadThroughCache<ByteBuffer>(
            redis: redis, scheme: configuration.cacheKeyScheme, nearCacheBytes: 0, logger: logger,
            decode: { payload, _ in payload }, cost: { $0.readableBytes })
        return (CacheTagInvalidator(cache: cache), redis)
    }
}
