import Foundation
import Gateway
import Hybrid
import TestSupport
import Testing

@Suite struct WarmupTests {
    @Test func aJobFillsWhatItPlansAndASecondFindsItWarm() async throws {
        // 3 categories of ~29 active products: 2 pages of 20 each, in 3 sorts, plus the category list.
        try await TestGateway.with(seed: CatalogGenerator(categories: 3, perCategory: 30)) { gateway in
            let plan = try WarmupPlan(pages: 5, perPage: 20, concurrency: 3)
            let first = try await WarmupJob(
                plan: plan, responder: gateway.application.responder, catalog: gateway.catalog
            ).run()
            #expect(first.total == 1 + 3 * 3 * 2)
            #expect(first.filled == first.total)
            #expect(first.failed == 0)
            let path = "/v1/categories/2/products?page=2&per_page=20&sort=price_desc"
            #expect(try await gateway.get(path).header("cache-status")?.hasPrefix("CatalogGateway; hit") == true)
            let second = try await WarmupJob(
                plan: plan, responder: gateway.application.responder, catalog: gateway.catalog
            ).run()
            #expect(second.alreadyWarm == second.total)
            #expect(second.filled == 0)
        }
    }

    @Test func theAdminEndpointStartsAJobAndReportsItsProgress() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 2, perCategory: 10)) { gateway in
            let started = try await gateway.admin(
                "POST", "/admin/v1/warmup", json: #"{"categories": [1], "pages": 1, "sorts": ["newest"]}"#)
            #expect(started.status == 202)
            let location = try #require(started.header("location"))
            var report: [String: Any] = [:]
            for _ in 0..<100 {
                let response = try await gateway.admin("GET", location)
                report = (try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]) ?? [:]
                if (report["state"] as? String)?.hasPrefix("finished") == true { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(report["state"] as? String == "finished")
            #expect((report["filled"] as? NSNumber)?.intValue == 2)  // the category list and one page
            #expect(try await gateway.get("/v1/categories/1/products").header("cache-status")?.contains("hit") == true)

            let bad = try await gateway.admin("POST", "/admin/v1/warmup", json: #"{"pages": 0}"#)
            #expect(bad.status == 400)
            let sort = try await gateway.admin("POST", "/admin/v1/warmup", json: #"{"sorts": ["cheapest"]}"#)
            #expect(sort.status == 400)
            #expect(try await gateway.admin("GET", "/admin/v1/warmup/nope").status == 404)
        }
    }
}
