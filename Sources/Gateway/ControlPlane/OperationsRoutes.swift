import Logging
import CacheLayer
import Foundation
import HTTPTypes
import Hummingbird
import Hybrid
import NIOCore
import Prometheus

/// Health, readiness and metrics.
struct OperationsRoutes: Sendable {
    let catalog: HybridCatalog
    let redis: RedisClient
    /// The write path's own connection (invalidations): down is as bad as the storefront's.
    let writeRedis: RedisClient
    let registry: PrometheusCollectorRegistry
    let checkTimeout: Duration

    func register(on router: Router<BasicRequestContext>) {
        router.get("healthz") { _, _ in
            AdminRoutes.json(.ok, Array(#"{"status":"ok"}"#.utf8))
        }
        router.get("readyz") { _, _ in try await readiness() }
        router.get("openapi.json") { _, _ in
            AdminRoutes.json(.ok, Array(OpenAPIDocument.json.utf8))
        }
        router.get("metrics") { _, _ in
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// Checks each backend with a timeout, in parallel, and names each in the answer.
    ///
    /// Only what the gateway cannot serve without makes it unready (`503`): PostgreSQL unreachable,
    /// or the schema missing a migration of this build. MongoDB or Redis down is `200` with status
    /// `degraded`: the gateway still answers (cached pages, bypass, stale, prompt 503s for what
    /// it cannot load), and taking every instance out of a load balancer for an outage they all
    /// share would only turn a degraded storefront into a dead one.
    func readiness() async throws -> Response {
        let catalog = self.catalog
        let redis = self.redis
        let writeRedis = self.writeRedis
        let logger = catalog.logger
        let checkTimeout = self.checkTimeout
        let checks: [(String, @Sendable () async throws -> Void)] = [
            ("postgres", { try await catalog.ping() }),
            ("mongodb", { try await catalog.mongo.ping() }),
            (
                "redis",
                {
                    try await redis.ping()
                    try await writeRedis.ping()
                }
            ),
        ]
        async let pendingMigrations: [Int]? = try? await Deadline.run(
            checkTimeout, expired: { CancellationError() }, { try await Migrator(catalog: catalog).pendingVersions() })
        let results = await withTaskGroup(of: (String, String?, Double).self) { group in
            for (name, check) in checks {
                group.addTask {
                    let started = ContinuousClock.now
                    let error = await Self.withTimeout(checkTimeout, name: name, logger: logger, check)
                    let elapsed = ContinuousClock.now - started
                    return (
                        name, error,
                        Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
                    )
                }
            }
            var results: [(String, String?, Double)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }
        }
        let pending = await pendingMigrations
        let postgresUp = results.contains { $0.0 == "postgres" && $0.1 == nil }
        let migrated = pending?.isEmpty == true
        let ready = postgresUp && migrated
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("status")
        writer.string(!ready ? "unavailable" : results.allSatisfy { $0.1 == nil } ? "ready" : "degraded")
        writer.key("backends")
        writer.beginObject()
        for (name, error, milliseconds) in results {
            writer.key(name)
            writer.beginObject()
            writer.key("status")
            writer.string(error == nil ? "up" : "down")
            writer.key("latency_ms")
            writer.double((milliseconds * 10).rounded() / 10)
            if let error {
                writer.key("error")
                writer.string(error)
            }
            writer.endObject()
        }
        writer.endObject()
        writer.key("migrations")
        writer.beginObject()
        writer.key("status")
        writer.string(migrated ? "applied" : pending == nil ? "unknown" : "pending")
        if let pending, !pending.isEmpty {
            writer.key("pending")
            writer.beginArray()
            for version in pending { writer.int(Int64(version)) }
            writer.endArray()
            writer.key("detail")
            writer.string("run `gateway migrate` (the schema lacks migrations this build needs)")
        }
        writer.endObject()
        writer.endObject()
        return AdminRoutes.json(ready ? .ok : .serviceUnavailable, writer.bytes)
    }

    /// Runs `check`, giving up after `timeout` (without waiting for a check that hangs): `nil` when
    /// it succeeded, else why not, in words that carry no driver text (the log has the detail).
    static func withTimeout(
        _ timeout: Duration, name: String, logger: Logger, _ check: @escaping @Sendable () async throws -> Void
    ) async -> String? {
        struct NoAnswer: Error {}
        do {
            try await Deadline.run(timeout, expired: { NoAnswer() }, check)
            return nil
        } catch is NoAnswer {
            return "no answer within \(timeout)"
        } catch {
            logger.warning(
                "readiness check failed", metadata: ["backend": "\(name)", "error": "\(String(reflecting: error))"])
            return "unreachable or refusing requests (the gateway's log has the detail)"
        }
    }
}
