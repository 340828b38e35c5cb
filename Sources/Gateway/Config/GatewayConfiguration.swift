import CacheLayer
import Foundation
import Hybrid
import Logging

/// Every setting of the gateway, read once at start from the environment (and an optional file of
/// `KEY=value` lines named by `GATEWAY_CONFIG_FILE`; the environment wins), validated, then passed
/// down. Nothing else reads the environment.
public struct GatewayConfiguration: Sendable {
    public struct Setting: Sendable {
        public let name: String
        public let defaultValue: String
        public let help: String
    }

    /// Every setting, its default and what it does: `gateway serve --help` prints this list.
    public static let settings: [Setting] = [
        Setting(
            name: "GATEWAY_POSTGRES_URL", defaultValue: "postgres://postgres@127.0.0.1:55432/catalog",
            help: "PostgreSQL connection URL"),
        Setting(name: "GATEWAY_POSTGRES_POOL_SIZE", defaultValue: "20", help: "most PostgreSQL connections"),
        Setting(
            name: "GATEWAY_POSTGRES_READ_URL", defaultValue: "",
            help:
                "a streaming replica for storefront loads, used only once it has replayed every acknowledged write (empty: the primary)"
        ),
        Setting(
            name: "GATEWAY_POSTGRES_READ_MAX_LAG_MS", defaultValue: "1000",
            help: "replay lag of the read replica past which every load goes to the primary"),
        Setting(
            name: "GATEWAY_POSTGRES_STATEMENT_TIMEOUT_MS", defaultValue: "5000",
            help: "statement_timeout of every PostgreSQL session (migrations excepted)"),
        Setting(
            name: "GATEWAY_MONGO_URL", defaultValue: "mongodb://127.0.0.1:57017/?directConnection=true",
            help: "MongoDB connection string"),
        Setting(
            name: "GATEWAY_MONGO_DATABASE", defaultValue: "catalog", help: "MongoDB database of the products collection"
        ),
        Setting(
            name: "GATEWAY_MONGO_POOL_SIZE", defaultValue: "8",
            help: "pooled MongoDB clients (and threads running them)"),
        Setting(name: "GATEWAY_REDIS_URL", defaultValue: "redis://127.0.0.1:56379/0", help: "Redis URL"),
        Setting(
            name: "GATEWAY_REDIS_TIMEOUT_MS", defaultValue: "500",
            help: "how long a Redis command may take before Redis counts as down (reads then go to the databases)"),
        Setting(name: "GATEWAY_HTTP_HOST", defaultValue: "0.0.0.0", help: "storefront (data plane) address"),
        Setting(name: "GATEWAY_HTTP_PORT", defaultValue: "8080", help: "storefront (data plane) port"),
        Setting(name: "GATEWAY_ADMIN_HOST", defaultValue: "127.0.0.1", help: "admin (control plane) address"),
        Setting(name: "GATEWAY_ADMIN_PORT", defaultValue: "8081", help: "admin (control plane) port"),
        Setting(
            name: "GATEWAY_READ_TIMEOUT_MS", defaultValue: "10000",
            help: "from a request's first byte to its last (HTTP/2: a stream's request), on every port"),
        Setting(
            name: "GATEWAY_IDLE_TIMEOUT_MS", defaultValue: "60000",
            help: "how long a connection may wait between requests (HTTP/2: then GOAWAY), on every port"),
        Setting(
            name: "GATEWAY_MAX_CONNECTIONS", defaultValue: "10000",
            help: "open connections per listener; more are closed at once and counted (connections_refused_total)"),
        Setting(
            name: "GATEWAY_HTTP2_ENGINE", defaultValue: "nghttp2",
            help:
                "how the storefront serves HTTP/2: nghttp2 (libnghttp2's session), frames (NIOHTTP2, streams answered on the connection) or streams (NIOHTTP2, a channel per stream)"
        ),
        Setting(
            name: "GATEWAY_LOADING_MODE", defaultValue: "batch", help: "document loading on a miss: batch or per-object"
        ),
        Setting(
            name: "GATEWAY_LOG_LEVEL", defaultValue: "info",
            help: "trace, debug, info, notice, warning, error or critical"),
        Setting(
            name: "GATEWAY_CACHE_MODE", defaultValue: "near+redis",
            help: "near+redis (near-cache in front of Redis), redis (no near-cache) or off (every request loads)"),
        Setting(name: "GATEWAY_NEAR_CACHE_MB", defaultValue: "64", help: "near-cache budget in MiB"),
        Setting(name: "GATEWAY_NEAR_CACHE_TTL_MS", defaultValue: "5000", help: "near-cache outer staleness bound"),
        Setting(
            name: "GATEWAY_INVALIDATION_PING_MS", defaultValue: "1000",
            help: "how often the near-cache's invalidation subscription is pinged to prove it alive"),
        Setting(
            name: "GATEWAY_INVALIDATION_TIMEOUT_MS", defaultValue: "2000",
            help: "silence after which the subscription counts as down and the near-cache goes off"),
        Setting(
            name: "GATEWAY_REFRESH_CONCURRENCY", defaultValue: "4",
            help: "background refreshes (stale-while-revalidate) running at once"),
        Setting(
            name: "GATEWAY_REFRESH_QUEUE", defaultValue: "1000",
            help: "background refreshes waiting at most; more are dropped and served stale meanwhile"),
        Setting(
            name: "GATEWAY_REFRESH_AHEAD", defaultValue: "off",
            help:
                "on: after a write or hook, refill the pages it invalidated that were read here recently (grows in memory over time: see docs/cache.md); off: leave them to the next reader"
        ),
        Setting(
            name: "GATEWAY_OUTBOX_MAX_ATTEMPTS", defaultValue: "10",
            help: "times a store may refuse an outbox entry before it moves to the dead letters (outages never count)"),
        Setting(
            name: "GATEWAY_FAULT_INVALIDATION_DELAY_MS", defaultValue: "0",
            help:
                "TESTING ONLY: acknowledge writes this long before invalidating (loadtests/consistency --self-test); keep 0"
        ),
        Setting(
            name: "GATEWAY_CACHE_SOFT_TTL_S", defaultValue: "60",
            help: "seconds an entry is fresh (Cache-Control max-age)"),
        Setting(
            name: "GATEWAY_CACHE_HARD_TTL_S", defaultValue: "3600",
            help: "seconds an entry is kept for stale-while-revalidate and stale-if-error"),
        Setting(
            name: "GATEWAY_CACHE_NEGATIVE_TTL_S", defaultValue: "10", help: "seconds a not-found answer is remembered"),
        Setting(name: "GATEWAY_CACHE_PREFIX", defaultValue: "gw", help: "prefix of every Redis key the gateway writes"),
        Setting(
            name: "GATEWAY_TLS_CERT", defaultValue: "",
            help: "PEM certificate chain: serve TLS (h2 and http/1.1 by ALPN)"),
        Setting(name: "GATEWAY_TLS_KEY", defaultValue: "", help: "PEM private key of GATEWAY_TLS_CERT"),
        Setting(name: "GATEWAY_TLS_PORT", defaultValue: "8443", help: "storefront TLS port (with GATEWAY_TLS_CERT)"),
        Setting(
            name: "GATEWAY_ADMIN_TOKENS", defaultValue: "",
            help: "comma-separated bearer tokens of the admin API (none: every admin request is refused)"),
        Setting(
            name: "GATEWAY_HOOK_SECRET", defaultValue: "",
            help: "HMAC-SHA256 secret of POST /hooks/v1/invalidate (empty: hooks are refused)"),
    ]

    public var postgresURL: String
    /// A streaming replica for storefront loads, if any.
    public var postgresReadURL: String?
    public var postgresReadMaximumLag: Duration
    public var postgresPoolSize: Int
    public var postgresStatementTimeout: Duration
    public var mongoURL: String
    public var mongoDatabase: String
    public var mongoPoolSize: Int
    public var redisURL: String
    public var redisTimeout: Duration
    public var httpHost: String
    public var httpPort: Int
    public var adminHost: String
    public var adminPort: Int
    public var loadingMode: LoadingMode
    /// Timeouts and limits of every listener's connections.
    public var connections: ConnectionSettings
    public var logLevel: Logger.Level
    public var cacheMode: CacheMode
    public var nearCacheBytes: Int
    public var nearCacheTTL: Duration
    public var invalidationPingInterval: Duration
    public var invalidationTimeout: Duration
    public var refreshConcurrency: Int
    public var refreshQueueLimit: Int
    public var refreshAhead: Bool
    public var outboxMaxAttempts: Int
    /// A deliberate fault for the consistency checker's self-test; zero in any real deployment.
    public var faultInvalidationDelay: Duration
    public var softTTL: Duration
    public var hardTTL: Duration
    public var negativeTTL: Duration
    public var cachePrefix: String
    public var adminTokens: [String]
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var tlsPort: Int
    public var hookSecret: String?

    /// Which caches serve storefront reads.
    public enum CacheMode: String, Sendable, CaseIterable {
        case nearAndRedis = "near+redis"
        case redis
        case off
    }

    /// Reads and validates the settings.
    /// - Throws: `ConfigurationError` naming the setting and what is wrong with its value.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        var values: [String: String] = [:]
        if let file = environment["GATEWAY_CONFIG_FILE"] {
            values = try Self.readFile(file)
        }
        for (key, value) in environment where key.hasPrefix("GATEWAY_") { values[key] = value }
        func value(_ name: String) -> String {
            values[name] ?? Self.settings.first { $0.name == name }!.defaultValue
        }
        func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int {
            guard let number = Int(value(name)), range.contains(number) else {
                throw ConfigurationError(
                    setting: name,
                    message:
                        "must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(value(name))'")
            }
            return number
        }
        postgresURL = value("GATEWAY_POSTGRES_URL")
        postgresReadURL = value("GATEWAY_POSTGRES_READ_URL").isEmpty ? nil : value("GATEWAY_POSTGRES_READ_URL")
        postgresReadMaximumLag = .milliseconds(try integer("GATEWAY_POSTGRES_READ_MAX_LAG_MS", in: 1...3_600_000))
        postgresPoolSize = try integer("GATEWAY_POSTGRES_POOL_SIZE", in: 1...500)
        postgresStatementTimeout = .milliseconds(
            try integer("GATEWAY_POSTGRES_STATEMENT_TIMEOUT_MS", in: 100...3_600_000))
        mongoURL = value("GATEWAY_MONGO_URL")
        mongoDatabase = value("GATEWAY_MONGO_DATABASE")
        mongoPoolSize = try integer("GATEWAY_MONGO_POOL_SIZE", in: 1...256)
        redisURL = value("GATEWAY_REDIS_URL")
        redisTimeout = .milliseconds(try integer("GATEWAY_REDIS_TIMEOUT_MS", in: 10...60_000))
        httpHost = value("GATEWAY_HTTP_HOST")
        httpPort = try integer("GATEWAY_HTTP_PORT", in: 0...65535)
        adminHost = value("GATEWAY_ADMIN_HOST")
        adminPort = try integer("GATEWAY_ADMIN_PORT", in: 0...65535)
        connections = ConnectionSettings()
        connections.readTimeout = .milliseconds(Int64(try integer("GATEWAY_READ_TIMEOUT_MS", in: 100...600_000)))
        connections.idleTimeout = .milliseconds(Int64(try integer("GATEWAY_IDLE_TIMEOUT_MS", in: 100...3_600_000)))
        connections.maximumConnections = try integer("GATEWAY_MAX_CONNECTIONS", in: 1...1_000_000)
        guard let engine = ConnectionSettings.HTTP2Engine(rawValue: value("GATEWAY_HTTP2_ENGINE")) else {
            throw ConfigurationError(
                setting: "GATEWAY_HTTP2_ENGINE",
                message:
                    "must be one of \(ConnectionSettings.HTTP2Engine.allCases.map(\.rawValue).joined(separator: ", ")); got '\(value("GATEWAY_HTTP2_ENGINE"))'"
            )
        }
        connections.http2Engine = engine
        guard let mode = LoadingMode(rawValue: value("GATEWAY_LOADING_MODE")) else {
            throw ConfigurationError(
                setting: "GATEWAY_LOADING_MODE",
                message: "must be batch or per-object, got '\(value("GATEWAY_LOADING_MODE"))'")
        }
        loadingMode = mode
        guard let level = Logger.Level(rawValue: value("GATEWAY_LOG_LEVEL")) else {
            throw ConfigurationError(
                setting: "GATEWAY_LOG_LEVEL",
                message:
                    "must be one of trace, debug, info, notice, warning, error, critical; got '\(value("GATEWAY_LOG_LEVEL"))'"
            )
        }
        logLevel = level
        guard let cacheMode = CacheMode(rawValue: value("GATEWAY_CACHE_MODE")) else {
            throw ConfigurationError(
                setting: "GATEWAY_CACHE_MODE",
                message: "must be near+redis, redis or off, got '\(value("GATEWAY_CACHE_MODE"))'")
        }
        self.cacheMode = cacheMode
        nearCacheBytes = try integer("GATEWAY_NEAR_CACHE_MB", in: 1...65536) << 20
        nearCacheTTL = .milliseconds(try integer("GATEWAY_NEAR_CACHE_TTL_MS", in: 10...3_600_000))
        invalidationPingInterval = .milliseconds(try integer("GATEWAY_INVALIDATION_PING_MS", in: 10...60_000))
        invalidationTimeout = .milliseconds(try integer("GATEWAY_INVALIDATION_TIMEOUT_MS", in: 20...600_000))
        guard invalidationTimeout > invalidationPingInterval else {
            throw ConfigurationError(
                setting: "GATEWAY_INVALIDATION_TIMEOUT_MS", message: "must be longer than GATEWAY_INVALIDATION_PING_MS")
        }
        refreshConcurrency = try integer("GATEWAY_REFRESH_CONCURRENCY", in: 1...256)
        refreshQueueLimit = try integer("GATEWAY_REFRESH_QUEUE", in: 0...1_000_000)
        switch value("GATEWAY_REFRESH_AHEAD") {
        case "on": refreshAhead = true
        case "off": refreshAhead = false
        case let other:
            throw ConfigurationError(
                setting: "GATEWAY_REFRESH_AHEAD", message: "must be on or off, got '\(other.prefix(80))'")
        }
        outboxMaxAttempts = try integer("GATEWAY_OUTBOX_MAX_ATTEMPTS", in: 1...1000)
        faultInvalidationDelay = .milliseconds(try integer("GATEWAY_FAULT_INVALIDATION_DELAY_MS", in: 0...60_000))
        softTTL = .seconds(try integer("GATEWAY_CACHE_SOFT_TTL_S", in: 1...86_400))
        hardTTL = .seconds(try integer("GATEWAY_CACHE_HARD_TTL_S", in: 1...2_592_000))
        negativeTTL = .seconds(try integer("GATEWAY_CACHE_NEGATIVE_TTL_S", in: 1...3600))
        guard hardTTL >= softTTL else {
            throw ConfigurationError(
                setting: "GATEWAY_CACHE_HARD_TTL_S", message: "must not be shorter than GATEWAY_CACHE_SOFT_TTL_S")
        }
        adminTokens = value("GATEWAY_ADMIN_TOKENS").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        .filter { !$0.isEmpty }
        if let short = adminTokens.first(where: { $0.count < 16 }) {
            throw ConfigurationError(
                setting: "GATEWAY_ADMIN_TOKENS", message: "has a token of \(short.count) characters; use at least 16")
        }
        tlsCertificatePath = value("GATEWAY_TLS_CERT").isEmpty ? nil : value("GATEWAY_TLS_CERT")
        tlsKeyPath = value("GATEWAY_TLS_KEY").isEmpty ? nil : value("GATEWAY_TLS_KEY")
        tlsPort = try integer("GATEWAY_TLS_PORT", in: 0...65535)
        guard (tlsCertificatePath == nil) == (tlsKeyPath == nil) else {
            throw ConfigurationError(setting: "GATEWAY_TLS_KEY", message: "and GATEWAY_TLS_CERT must be set together")
        }
        for (setting, path) in [("GATEWAY_TLS_CERT", tlsCertificatePath), ("GATEWAY_TLS_KEY", tlsKeyPath)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw ConfigurationError(setting: setting, message: "names '\(path)', which cannot be read")
            }
        }
        let secret = value("GATEWAY_HOOK_SECRET")
        if !secret.isEmpty && secret.count < 16 {
            throw ConfigurationError(setting: "GATEWAY_HOOK_SECRET", message: "must be at least 16 characters")
        }
        hookSecret = secret.isEmpty ? nil : secret
        cachePrefix = value("GATEWAY_CACHE_PREFIX")
        guard !cachePrefix.isEmpty, cachePrefix.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        else {
            throw ConfigurationError(
                setting: "GATEWAY_CACHE_PREFIX", message: "must be letters, digits, '-' or '_', got '\(cachePrefix)'")
        }
        guard !mongoDatabase.isEmpty, !mongoDatabase.contains(where: { "/\\. \"$".contains($0) }) else {
            throw ConfigurationError(
                setting: "GATEWAY_MONGO_DATABASE", message: "is not a valid database name: '\(mongoDatabase)'")
        }
        _ = try PostgresSettings(url: postgresURL)
        if let postgresReadURL { _ = try PostgresSettings(url: postgresReadURL, setting: "GATEWAY_POSTGRES_READ_URL") }
        guard mongoURL.hasPrefix("mongodb://") || mongoURL.hasPrefix("mongodb+srv://") else {
            throw ConfigurationError(
                setting: "GATEWAY_MONGO_URL",
                message: "must start with mongodb://, got '\(RedisConfiguration.masked(mongoURL))'")
        }
    }

    private static func readFile(_ path: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(setting: "GATEWAY_CONFIG_FILE", message: "cannot read '\(path)'")
        }
        var values: [String: String] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "="), line[..<equals].hasPrefix("GATEWAY_") else {
                throw ConfigurationError(
                    setting: "GATEWAY_CONFIG_FILE", message: "\(path) line \(index + 1): expected GATEWAY_NAME=value")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard settings.contains(where: { $0.name == key }) else {
                throw ConfigurationError(setting: key, message: "is not a known setting (\(path) line \(index + 1))")
            }
            values[key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }
}

/// A setting with a value the gateway cannot use.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let setting: String
    public let message: String
    public var description: String { "\(setting) \(message)" }
}
