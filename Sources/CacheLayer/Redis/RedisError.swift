/// Why a Redis command failed.
public enum RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Redis answered with an error reply (`ERR …`, `NOSCRIPT …`, `WRONGTYPE …`).
    case server(String)
    /// No reply within the command timeout: the connection was closed and every pending command failed.
    case timeout(command: String)
    /// The connection closed (or failed) with the command pending.
    case connectionClosed(String)
    /// The byte stream was not RESP: the connection is closed.
    case protocolViolation(String)
    /// Connecting failed recently: requests fail fast until the retry time, instead of each
    /// waiting out a timeout.
    case unavailable(String)
    case invalidURL(String, reason: String)
    /// A Redis Cluster kept answering with redirections or cluster errors (the topology keeps
    /// moving, or the cluster is down).
    case cluster(String)
    /// The write reached the master but not as many replicas as asked within the timeout: a
    /// failover could lose it, so it does not count as done.
    case notReplicated(acknowledged: Int, wanted: Int)

    public var description: String {
        switch self {
        case .server(let message): "Redis replied with an error: \(message)"
        case .timeout(let command): "Redis did not answer \(command) in time; the connection was reset"
        case .connectionClosed(let reason): "the Redis connection closed: \(reason)"
        case .protocolViolation(let reason): "Redis sent something that is not RESP: \(reason)"
        case .unavailable(let reason): "Redis is unavailable: \(reason)"
        case .invalidURL(let url, let reason):
            "the Redis URL '\(url)' is invalid: \(reason) (expected \(RedisConfiguration.expectedForm))"
        case .cluster(let reason): "the Redis Cluster could not run the command: \(reason)"
        case .notReplicated(let acknowledged, let wanted):
            "the write reached \(acknowledged) of the \(wanted) replicas asked for in time"
        }
    }
}
