import Foundation
import Gateway
import Hybrid
import TestSupport
import Testing

/// `PATCH /admin/v1/products`: feeds of partial updates, each item with its own outcome.
@Suite struct BulkUpdateTests {
    static func object(_ body: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
    }

    @Test func eachItemGetsItsOwnStatusAndTheValidOnesAreApplied() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 2, perCategory: 10)) { gateway in
            let listing = "/v1/categories/1/products?per_page=100&sort=price_asc"
            let ids = try (Self.object(try await gateway.get(listing).body)["items"] as? [[String: Any]] ?? [])
                .compactMap { ($0["id"] as? NSNumber)?.int64Value }
            #expect(ids.count >= 4)
            let (a, b, c, d) = (ids[0], ids[1], ids[2], ids[3])
            _ = try await gateway.get("/v1/products/\(c)")
            let body = """
                [{"id": \(c), "price": "0.01", "name": "Cheapest now"},
                 {"id": \(a), "version": 99, "price": "5.00"},
                 {"id": 999999, "price": "1.00"},
                 {"id": \(b), "price": "-1"},
                 {"id": \(b), "colour": "red"},
                 {"price": "2.00"},
                 {"id": \(d), "description": "Described in bulk"},
                 {"id": \(d), "name": "Twice"}]
                """
            let response = try await gateway.admin("PATCH", "/admin/v1/products", json: body)
            #expect(response.status == 200, "\(response.body)")
            let result = try Self.object(response.body)
            let items = try #require(result["items"] as? [[String: Any]])
            let statuses = items.map { ($0["status"] as? NSNumber)?.intValue ?? 0 }
            #expect(statuses == [200, 412, 404, 400, 400, 400, 200, 400], "\(response.body)")
            #expect((result["applied"] as? NSNumber)?.intValue == 2)
            #expect((result["failed"] as? NSNumber)?.intValue == 6)
            #expect((items[7]["detail"] as? String)?.contains("more than once") == true, "\(items[7])")
            #expect((items[3]["detail"] as? String)?.contains("price") == true, "\(items[3])")
            #expect((items[4]["detail"] as? String)?.contains("colour") == true, "\(items[4])")
            #expect((items[1]["detail"] as? String)?.contains("version") == true)
            // Applied: the storefront shows the new price first in the price order, and the detail
            // (cached before) the new name.
            let page = try Self.object(try await gateway.get(listing).body)
            let first = try #require((page["items"] as? [[String: Any]])?.first)
            #expect((first["id"] as? NSNumber)?.int64Value == c)
            #expect(first["price"] as? String == "0.0100" || first["price"] as? String == "0.01")
            #expect(try await gateway.get("/v1/products/\(c)").body.contains("Cheapest now"))
            #expect(try await gateway.get("/v1/products/\(d)").body.contains("Described in bulk"))
            // The 412 item changed nothing: its price is as before.
            #expect(try await gateway.get("/v1/products/\(a)").body.contains("\"5.00\"") == false)
        }
    }

    @Test func malformedBatchesAreRefusedAsAWhole() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            for (body, fragment) in [
                (#"{"id": 1, "price": "1.00"}"#, "array"), ("[]", "empty"), ("[1,", "not valid JSON"),
                ("[" + Array(repeating: #"{"id": 1, "name": "x"}"#, count: 1001).joined(separator: ",") + "]", "1000"),
            ] {
                let response = try await gateway.admin("PATCH", "/admin/v1/products", json: body)
                #expect(response.status == 400, "\(body.prefix(40)): \(response.status)")
                #expect(response.body.contains(fragment), "\(response.body)")
                #expect(response.header("content-type") == "application/problem+json")
            }
            let huge = "[" + String(repeating: " ", count: 9 << 20) + "]"
            let tooLarge = try await gateway.admin("PATCH", "/admin/v1/products", json: huge)
            #expect(tooLarge.status == 413, "\(tooLarge.body)")
            #expect(tooLarge.body.contains("8 MiB"))
            let noToken = try await gateway.admin(
                "PATCH", "/admin/v1/products", json: #"[{"id": 1, "name": "x"}]"#, token: nil)
            #expect(noToken.status == 401)
        }
    }
}
