import Foundation
import Gateway
import Hybrid
import TestSupport
import Testing

/// Stops a private SecantusDB and a private redis-server under a running gateway.
@Suite(.serialized) struct BackendOutageTests {
    func eventually(_ seconds: Double = 15, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func listingsStayServedWhileMongoDBOrRedisIsDownAndWritesAreNotLost() async throws {
        let storage = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("secantus")
        ).path
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let mongo = try ServiceProcess.secantus(storage: storage)
        // Redis keeps its data across the outage, like a production Redis: the entries cached
        // before it are still there after, so only the outbox can make them go away.
        let redis = try ServiceProcess.redis(persistentIn: storage + "-redis")
        defer { try? FileManager.default.removeItem(atPath: storage + "-redis") }
        try await mongo.start()
        try await redis.start()
        let environment = [
            "GATEWAY_MONGO_URL":
                "mongodb://127.0.0.1:\(mongo.port)/?directConnection=true&serverSelectionTimeoutMS=1000",
            "GATEWAY_REDIS_URL": "redis://127.0.0.1:\(redis.port)/0",
        ]
        do {
            try await TestGateway.with(seed: CatalogGenerator(categories: 3, perCategory: 10), environment: environment)
            { gateway in
                let cached = "/v1/categories/1/products"
                #expect(try await gateway.get(cached).status == 200)

                // MongoDB down: the cached page is still served, an uncached one is 503 with
                // Retry-After, and a write is durable and pending.
                await mongo.stop()
                #expect(try await gateway.get(cached).status == 200)
                let uncached = try await gateway.get("/v1/categories/2/products")
                #expect(uncached.status == 503)
                #expect(uncached.header("retry-after") != nil)
                #expect(uncached.header("content-type") == "application/problem+json")
                let write = try await gateway.admin(
                    "PATCH", "/admin/v1/products/3", json: #"{"name": "Written during the outage"}"#)
                #expect(write.status == 202)
                #expect(write.body.contains("pending"))
                // The body names the store, never the driver's words (which stay in the log and outbox).
                #expect(write.body.contains("MongoDB is unavailable"), "\(write.body)")
                #expect(!write.body.contains("mongoc") && !write.body.contains("127.0.0.1"), "\(write.body)")
                // Still ready (a load balancer keeps it), and says what is down.
                let degraded = try await gateway.admin("GET", "/readyz", token: nil)
                #expect(degraded.status == 200, "\(degraded.body)")
                #expect(degraded.body.contains(#""status":"degraded""#), "\(degraded.body)")
                #expect(degraded.body.contains(#""mongodb":{"status":"down""#), "\(degraded.body)")

                try await mongo.start()
                #expect(
                    try await eventually {
                        try await gateway.get("/v1/products/3").body.contains("Written during the outage")
                    })

                // Redis down: pages come from the databases; a write is applied, its invalidation pending.
                let before = try await gateway.get("/v1/products/4")
                #expect(before.status == 200)
                #expect(try await gateway.get("/v1/products/4").header("cache-status")?.contains("hit") == true)
                await redis.stop()
                let bypassed = try await gateway.get(cached)
                #expect(bypassed.status == 200)
                #expect(bypassed.header("cache-status")?.contains("bypass") == true)
                let second = try await gateway.admin(
                    "PATCH", "/admin/v1/products/4", json: #"{"name": "Written without Redis"}"#)
                #expect(second.status == 202)
                #expect(second.body.contains("the cache (Redis) is unavailable"), "\(second.body)")
                #expect(!second.body.contains("127.0.0.1") && !second.body.contains("errno"), "\(second.body)")
                let withoutRedis = try await gateway.admin("GET", "/readyz", token: nil)
                #expect(withoutRedis.status == 200, "\(withoutRedis.body)")
                #expect(withoutRedis.body.contains(#""redis":{"status":"down""#), "\(withoutRedis.body)")
                #expect(try await gateway.get("/v1/products/4").body.contains("Written without Redis"))

                try await redis.start()
                #expect(
                    try await eventually {
                        try await gateway.get(cached).header("cache-status")?.hasPrefix("CatalogGateway; hit") == true
                    })
                // The entry cached before the outage survived it; only the delivered invalidation keeps
                // it from being served.
                #expect(try await gateway.application.relay.drain(attempts: 20) == 0)
                let after = try await gateway.get("/v1/products/4")
                #expect(after.body.contains("Written without Redis"), "served \(after.header("cache-status") ?? "")")
                #expect(try await eventually { try await gateway.application.relay.pendingCount() == 0 })
            }
        } catch {
            await mongo.stop()
            await redis.stop()
            throw error
        }
        await mongo.stop()
        await redis.stop()
    }
}
