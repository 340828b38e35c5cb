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
    func readiness() async throws -> Response {
        let catalog = self.catalog
        let redis = self.redis
        let logger = catalog.logger
        let checkTimeout = self.checkTimeout
        let checks: [(String, @Sendable () async throws -> Void)] = [
            ("postgres", { try await catalog.ping() }),
            ("mongodb", { try await catalog.mongo.ping() }),
            ("redis", { try await redis.ping() }),
        ]
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
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("status")
        let ready = results.allSatisfy { $0.1 == nil }
        writer.string(ready ? "ready" : "unavailable")
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
