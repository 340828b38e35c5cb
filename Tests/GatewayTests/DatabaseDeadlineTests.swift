import Foundation
import Gateway
import Hybrid
import TestSupport
import Testing

/// Stops a private PostgreSQL under a running gateway: every answer still comes within its
/// deadline, as a 503 with Retry-After where there is no cached copy, and carries no driver text.
@Suite(.serialized) struct DatabaseDeadlineTests {
    @Test func withPostgreSQLStoppedWritesAnswer503WithinFiveSecondsAndReadsStayServed() async throws {
        let postgres = try PostgresProcess()
        try await postgres.start()
        do {
            try await check(postgres)
        } catch {
            await postgres.remove()
            throw error
        }
        await postgres.remove()
    }

    func check(_ postgres: PostgresProcess) async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 2, perCategory: 5), postgresURL: postgres.url) {
            gateway in
            let cached = "/v1/categories/1/products"
            #expect(try await gateway.get(cached).status == 200)
            await postgres.stop()

            for (method, path, json) in [
                ("PATCH", "/admin/v1/products/2", #"{"name": "While down"}"#),
                (
                    "POST", "/admin/v1/products",
                    #"{"sku": "DOWN-1", "category_id": 1, "name": "x", "price": "1", "currency": "EUR"}"#
                ),
                ("PATCH", "/admin/v1/categories/1", #"{"name": "Renamed while down"}"#),
            ] {
                let started = ContinuousClock.now
                let answer = try await gateway.admin(method, path, json: json)
                let took = ContinuousClock.now - started
                #expect(answer.status == 503, "\(method) \(path): \(answer.status) \(answer.body)")
                #expect(answer.header("retry-after") != nil)
                #expect(took < .seconds(5), "\(method) \(path) took \(took)")
                #expect(!answer.body.contains("PSQL") && !answer.body.contains("postgres://"), "\(answer.body)")
            }
            // Reads: the cached page is served, an uncached one is a prompt 503.
            #expect(try await gateway.get(cached).status == 200)
            let started = ContinuousClock.now
            let uncached = try await gateway.get("/v1/categories/2/products")
            #expect(uncached.status == 503)
            #expect(uncached.header("retry-after") != nil)
            #expect(ContinuousClock.now - started < .seconds(6))
            let ready = try await gateway.admin("GET", "/readyz", token: nil)
            #expect(ready.status == 503)
            #expect(ready.body.contains("postgres"))
            #expect(!ready.body.contains("PSQL") && !ready.body.contains("Generic description"), "\(ready.body)")

            try await postgres.start()
            var recovered = false
            for _ in 0..<50 where !recovered {
                recovered =
                    try await gateway.admin("PATCH", "/admin/v1/products/2", json: #"{"name": "After"}"#).status == 200
                if !recovered { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(recovered, "writes did not recover once PostgreSQL was back")
        }
    }
}
