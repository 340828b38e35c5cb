import Logging
import NIOCore
import NIOPosix

/// Keeps a near-cache coherent with every process's invalidations: a subscription to the
/// invalidation channel evicts the tags each message names, and the near-cache is on only while
/// the subscription is proven alive (subscribed, and answering a `PING` every `pingInterval`
/// within `timeout`). A process that may have missed a message serves nothing from it.
public struct NearCacheCoherence<Value: Sendable>: Sendable {
    let near: NearCache<Value>?
    let logger: Logger

    public init(near: NearCache<Value>?, logger: Logger) {
        self.near = near
        self.logger = logger
    }

    /// Evicts what one channel message names.
    public func apply(_ text: String) {
        guard let near, let message = InvalidationMessage(text) else { return }
        near.invalidate(tags: message.tags.map(CacheKeyScheme.nearTag))
    }

    /// The channel is up (proven alive) or down.
    public func channel(connected: Bool) {
        near?.setEnabled(connected)
        logger.info(connected ? "near-cache on (invalidations subscribed)" : "near-cache off and flushed")
    }

    public func makeSubscriber(
        configuration: RedisConfiguration, nodes: (@Sendable () -> [RedisNodeAddress])? = nil, channel: String,
        pingInterval: Duration, timeout: Duration, heartbeat: RedisSubscriber.Heartbeat? = nil,
        group: any EventLoopGroup
    ) -> RedisSubscriber {
        RedisSubscriber(
            configuration: configuration, nodes: nodes, channel: channel, pingInterval: pingInterval,
            livenessTimeout: timeout, heartbeat: heartbeat, group: group, logger: logger, onMessage: { self.apply($0) },
            onState: { self.channel(connected: $0) })
    }
}
