import Foundation
import Gateway
import Hybrid
import PostgresNIO
import TestSupport
import Testing

/// The admin port of a real gateway process.
@Suite struct AdminTests {
    func object(_ response: TestGateway.Response) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]) ?? [:]
    }

    func detail(_ response: TestGateway.Response) -> String { object(response)["detail"] as? String ?? "" }

    @Test func writesNeedAValidBearerToken() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 5)) { gateway in
            let missing = try await gateway.admin("GET", "/admin/v1/products/1", token: nil)
            #expect(missing.status == 401)
            #expect(missing.header("www-authenticate")?.hasPrefix("Bearer") == true)
            #expect(missing.header("content-type") == "application/problem+json")
            #expect(
                try await gateway.admin("GET", "/admin/v1/products/1", token: "wrong-token-0123456789").status == 403)
            #expect(try await gateway.admin("GET", "/admin/v1/products/1").status == 200)
            // The admin API is not on the storefront port, whatever the token.
            #expect(
                try await gateway.get(
                    "/admin/v1/products/1", headers: ["Authorization": "Bearer \(TestGateway.adminToken)"]
                ).status == 404)
        }
    }

    @Test func createUpdateDeleteRoundTripAndShowOnTheStorefront() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 2, perCategory: 5)) { gateway in
            let listing = "/v1/categories/2/products?per_page=100"
            _ = try await gateway.get(listing)  // cached before the writes
            let created = try await gateway.admin(
                "POST", "/admin/v1/products",
                json:
                    #"{"sku": "ADMIN-1", "category_id": 2, "name": "Admin lamp", "price": "19.50", "currency": "EUR", "attributes": {"color": "teal"}}"#
            )
            #expect(created.status == 201)
            #expect(created.header("etag") == "\"1\"")
            let id = try #require((object(created)["id"] as? NSNumber)?.int64Value)
            #expect(created.header("location") == "/admin/v1/products/\(id)")
            #expect(try await gateway.get(listing).body.contains("Admin lamp"))

            let stale = try await gateway.admin(
                "PATCH", "/admin/v1/products/\(id)", json: #"{"name": "Stale"}"#, headers: ["If-Match": "\"7\""])
            #expect(stale.status == 412)
            let updated = try await gateway.admin(
                "PATCH", "/admin/v1/products/\(id)", json: #"{"name": "Renamed lamp", "price": "21.00"}"#,
                headers: ["If-Match": "\"1\""])
            #expect(updated.status == 200)
            #expect(updated.header("etag") == "\"2\"")
            let page = try await gateway.get(listing)
            #expect(page.body.contains("Renamed lamp"))
            #expect(page.body.contains("\"21.00\""))
            #expect(try await gateway.get("/v1/products/\(id)").body.contains("Renamed lamp"))

            #expect(
                try await gateway.admin("DELETE", "/admin/v1/products/\(id)", headers: ["If-Match": "\"2\""]).status
                    == 204)
            #expect(try await gateway.get("/v1/products/\(id)").status == 404)
            #expect(!(try await gateway.get(listing).body.contains("Renamed lamp")))
        }
    }

    @Test func badBodiesAreRefusedNamingTheField() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 5)) { gateway in
            let cases: [(String, Int, String)] = [
                (#"{"category_id": 1, "name": "x", "price": "1.00", "currency": "EUR"}"#, 400, "'sku' is required"),
                (#"{"sku": "A-1", "category_id": 1, "name": "x", "price": 1.5, "currency": "EUR"}"#, 400, "'price'"),
                (
                    #"{"sku": "A-1", "category_id": "one", "name": "x", "price": "1.00", "currency": "EUR"}"#, 400,
                    "'category_id'"
                ),
                (
                    #"{"sku": "A-1", "category_id": 1, "name": "x", "price": "1.00", "currency": "EUR", "colour": 1}"#,
                    400, "unknown field 'colour'"
                ),
                (#"{"sku": "A-1", "category_id": 1, "name": "x", "price": "-1", "currency": "EUR"}"#, 400, "'price'"),
                (
                    #"{"sku": "A-1", "category_id": 1, "name": "x", "price": "1.00", "currency": "euro"}"#, 400,
                    "currency"
                ),
                (
                    #"{"sku": "A-1", "category_id": 99, "name": "x", "price": "1.00", "currency": "EUR"}"#, 404,
                    "category 99"
                ),
                (#"{"sku": "A-1", "#, 400, "not valid JSON"),
                (#"[1, 2]"#, 400, "JSON object"),
            ]
            for (json, status, fragment) in cases {
                let response = try await gateway.admin("POST", "/admin/v1/products", json: json)
                #expect(response.status == status, "\(json)")
                #expect(detail(response).contains(fragment), "\(json) -> \(response.body)")
            }
            let sku = CatalogGenerator(categories: 1, perCategory: 5).product(id: 1).product.sku
            let duplicate = try await gateway.admin(
                "POST", "/admin/v1/products",
                json: #"{"sku": "\#(sku)", "category_id": 1, "name": "x", "price": "1.00", "currency": "EUR"}"#)
            #expect(duplicate.status == 409)
            let form = try await gateway.admin(
                "POST", "/admin/v1/products", json: "sku=x",
                headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(form.status == 415)
            let huge = try await gateway.admin(
                "POST", "/admin/v1/products",
                json: #"{"description": ""# + String(repeating: "x", count: 1_100_000) + #""}"#)
            #expect(huge.status == 413)
            #expect(try await gateway.admin("PUT", "/admin/v1/products/1", json: "{}").status == 405)
            #expect(try await gateway.admin("PATCH", "/admin/v1/products/abc", json: #"{"name": "x"}"#).status == 400)
            #expect(try await gateway.admin("PATCH", "/admin/v1/products/999", json: #"{"name": "x"}"#).status == 404)
            #expect(
                try await gateway.admin(
                    "PATCH", "/admin/v1/products/1", json: #"{"name": "x"}"#, headers: ["If-Match": "soon"]
                )
                .status == 400)
        }
    }

    @Test func hooksNeedAFreshValidSignatureAndThenInvalidate() async throws {
        // Refresh-ahead off: the invalidated page stays a miss for the next reader to see.
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 2, perCategory: 5), environment: ["GATEWAY_REFRESH_AHEAD": "off"]
        ) { gateway in
            let listing = "/v1/categories/1/products"
            _ = try await gateway.get(listing)
            #expect(try await gateway.get(listing).header("cache-status")?.contains("hit") == true)
            let body = #"{"categories": [1]}"#
            let signer = HookSignature(secret: TestGateway.hookSecret)
            let now = Int64(Date().timeIntervalSince1970)
            func hook(signature: String, timestamp: Int64) async throws -> TestGateway.Response {
                try await gateway.admin(
                    "POST", "/hooks/v1/invalidate", json: body, token: nil,
                    headers: ["X-Signature": signature, "X-Timestamp": String(timestamp)])
            }
            let forged = try await hook(
                signature: HookSignature(secret: "another-secret-0123456789").sign(
                    timestamp: now, body: Array(body.utf8)), timestamp: now)
            #expect(forged.status == 401)
            let old = try await hook(
                signature: signer.sign(timestamp: now - 600, body: Array(body.utf8)), timestamp: now - 600)
            #expect(old.status == 401)
            #expect(detail(old).contains("X-Timestamp"))
            // Neither changed anything: the page is still a hit.
            #expect(try await gateway.get(listing).header("cache-status")?.contains("hit") == true)
            let good = try await hook(signature: signer.sign(timestamp: now, body: Array(body.utf8)), timestamp: now)
            #expect(good.status == 200)
            #expect(try await gateway.get(listing).header("cache-status")?.contains("fwd=miss") == true)
        }
    }

    @Test func aSchemaMissingAMigrationMakesTheGatewayUnreadyAndSaysWhatToRun() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let catalog = gateway.application.backends.catalog
            let latest = try #require(Migration.all.map(\.version).max())
            try await catalog.postgres.query(
                PostgresQuery(unsafeSQL: "DELETE FROM schema_migrations WHERE version = \(latest)"),
                logger: catalog.logger)
            let unready = try await gateway.admin("GET", "/readyz", token: nil)
            #expect(unready.status == 503, "\(unready.body)")
            let migrations = object(unready)["migrations"] as? [String: Any]
            #expect(migrations?["status"] as? String == "pending")
            #expect(migrations?["pending"] as? [Int] == [latest])
            #expect((migrations?["detail"] as? String)?.contains("gateway migrate") == true)
            try await catalog.postgres.query(
                PostgresQuery(
                    unsafeSQL:
                        "INSERT INTO schema_migrations (version, name) VALUES (\(latest), 'restored by the test')"),
                logger: catalog.logger)
            #expect(try await gateway.admin("GET", "/readyz", token: nil).status == 200)
        }
    }

    @Test func operationsEndpointsReport() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            #expect(try await gateway.admin("GET", "/healthz", token: nil).status == 200)
            let ready = try await gateway.admin("GET", "/readyz", token: nil)
            #expect(ready.status == 200)
            let backends = object(ready)["backends"] as? [String: [String: Any]]
            #expect(Set(backends?.keys ?? [:].keys) == ["postgres", "mongodb", "redis"])
            #expect(backends?.values.allSatisfy { $0["status"] as? String == "up" } == true)
            #expect(object(ready)["status"] as? String == "ready")
            #expect((object(ready)["migrations"] as? [String: Any])?["status"] as? String == "applied")
            _ = try await gateway.get("/v1/categories/1/products")
            _ = try await gateway.get("/v1/categories/1/products")
            let metrics = try await gateway.admin("GET", "/metrics", token: nil)
            #expect(metrics.status == 200)
            #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
            for series in [
                #"storefront_request_duration_seconds_count{route="category_products",cache="miss",status="2xx"}"#,
                #"cache_requests_total{outcome="miss"}"#,
                #"backend_request_duration_seconds_count{backend="postgres"}"#,
                #"backend_request_duration_seconds_count{backend="mongodb"}"#, "outbox_backlog",
            ] {
                #expect(metrics.body.contains(series), "\(series)")
            }
            #expect(try await gateway.admin("POST", "/healthz", token: nil).status == 405)
        }
    }
}

@Suite struct HookSignatureTests {
    @Test func acceptsItsOwnSignatureAndRefusesTampering() throws {
        let signer = HookSignature(secret: "s3cret-s3cret-s3cret")
        let body = Array(#"{"products":[1]}"#.utf8)
        let signature = signer.sign(timestamp: 1_000, body: body)
        try signer.verify(signature: signature, timestamp: "1000", body: body, now: 1_100)
        #expect(throws: HookSignature.Failure.mismatch) {
            try signer.verify(
                signature: signature, timestamp: "1000", body: Array(#"{"products":[2]}"#.utf8), now: 1_100)
        }
        #expect(throws: HookSignature.Failure.mismatch) {
            try signer.verify(signature: signature, timestamp: "1001", body: body, now: 1_100)
        }
        #expect(throws: HookSignature.Failure.stale(400)) {
            try signer.verify(signature: signature, timestamp: "1000", body: body, now: 1_400)
        }
        #expect(throws: HookSignature.Failure.missing("X-Signature")) {
            try signer.verify(signature: nil, timestamp: "1000", body: body, now: 1_000)
        }
    }
}
