import Foundation
import Gateway
import Hybrid
import TestSupport
import Testing

/// The storefront port of a real gateway process, asked with curl.
@Suite struct StorefrontTests {
    static let paths = [
        "/v1/categories", "/v1/categories/2/products", "/v1/categories/2/products?page=2&per_page=7&sort=price_desc",
        "/v1/products/31", "/v1/products?ids=31,32,999,33",
    ]

    @Test func http1AndH2cGiveTheSameBodies() async throws {
        try await TestGateway.with { gateway in
            for path in Self.paths {
                let first = try await gateway.get(path, over: .http1)
                let second = try await gateway.get(path, over: .h2c)
                #expect(first.status == 200, "\(path)")
                #expect(first.version == "HTTP/1.1")
                #expect(second.version == "HTTP/2")
                #expect(first.body == second.body, "\(path)")
                #expect(first.header("etag") == second.header("etag"))
                #expect(first.header("content-type") == "application/json")
            }
        }
    }

    @Test func listingsCarryTheCatalogInOrder() async throws {
        let generator = CatalogGenerator(categories: 3, perCategory: 30)
        try await TestGateway.with(seed: generator) { gateway in
            let response = try await gateway.get("/v1/categories/2/products?per_page=100&sort=price_asc")
            let page = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as! [String: Any]
            let items = page["items"] as! [[String: Any]]
            let expected = generator.filter { $0.product.categoryID == 2 && $0.product.status == .active }
                .sorted { ($0.product.document.price, $0.id) < ($1.product.document.price, $1.id) }
            #expect(items.map { ($0["id"] as! NSNumber).int64Value } == expected.map(\.id))
            #expect(items.first?["price"] as? String == expected.first?.product.document.price.description)
            #expect((page["total"] as! NSNumber).intValue == expected.count)
            #expect(response.header("surrogate-key") == "category:2")
        }
    }

    @Test func aMatchingETagGets304() async throws {
        try await TestGateway.with { gateway in
            for version in TestGateway.WireProtocol.allCases {
                let first = try await gateway.get("/v1/products/31", over: version)
                let etag = try #require(first.header("etag"))
                let again = try await gateway.get("/v1/products/31", over: version, headers: ["If-None-Match": etag])
                #expect(again.status == 304)
                #expect(again.body.isEmpty)
                #expect(again.header("etag") == etag)
                let other = try await gateway.get(
                    "/v1/products/31", over: version, headers: ["If-None-Match": "\"0000\""])
                #expect(other.status == 200)
            }
        }
    }

    @Test func cacheStatusTellsHowEachAnswerWasServed() async throws {
        try await TestGateway.with { gateway in
            let path = "/v1/categories/1/products?per_page=5"
            #expect(try await gateway.get(path).header("cache-status") == "CatalogGateway; fwd=miss; stored")
            #expect(try await gateway.get(path).header("cache-status")?.hasPrefix("CatalogGateway; hit") == true)
            let cacheControl = try await gateway.get(path).header("cache-control")
            #expect(cacheControl == "public, max-age=60, stale-while-revalidate=3540")
        }
    }

    @Test func aWriteIsVisibleInTheNextRead() async throws {
        try await TestGateway.with { gateway in
            let path = "/v1/categories/1/products?per_page=100"
            let before = try await gateway.get(path)
            let id = try #require(
                (try JSONSerialization.jsonObject(with: Data(before.body.utf8)) as? [String: Any])
                    .flatMap { ($0["items"] as? [[String: Any]])?.first?["id"] as? NSNumber }?.int64Value)
            _ = try await gateway.get("/v1/products/\(id)")  // cached too
            let result = try await gateway.writer.update(id: id, changes: ProductChanges(name: "Renamed by the admin"))
            #expect(result.state == .applied)
            for path in [path, "/v1/products/\(id)", "/v1/products?ids=\(id)"] {
                let after = try await gateway.get(path)
                #expect(after.body.contains("Renamed by the admin"), "\(path)")
            }
        }
    }

    @Test(arguments: [
        ("/v1/products/abc", 400, "product id must be a positive integer"),
        ("/v1/products/-3", 400, "product id must be a positive integer"),
        ("/v1/products/0", 400, "product id must be a positive integer"),
        ("/v1/products/99999999999999999999", 400, "too large"),
        ("/v1/categories/1/products?per_page=0", 400, "per_page must be between 1 and 100"),
        ("/v1/categories/1/products?per_page=101", 400, "per_page must be between 1 and 100"),
        ("/v1/categories/1/products?page=x", 400, "page must be a whole number"),
        ("/v1/categories/1/products?sort=cheapest", 400, "sort must be one of"),
        ("/v1/products?ids=", 400, "ids is required"),
        ("/v1/products?ids=1,x", 400, "each id must be a positive integer"),
        ("/v1/categories/404/products", 404, "category 404 does not exist"),
        ("/v1/products/40400", 404, "product 40400 does not exist"),
        ("/v1/nothing", 404, "no storefront resource"),
        ("/admin/v1/products", 404, "no storefront resource"),
        ("/hooks/v1/invalidate", 404, "no storefront resource"),
    ])
    func badRequestsGetAProblemDocument(path: String, status: Int, detail: String) async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 5)) { gateway in
            let response = try await gateway.get(path)
            #expect(response.status == status)
            #expect(response.header("content-type") == "application/problem+json")
            let problem = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
            #expect((problem?["detail"] as? String)?.contains(detail) == true, "\(response.body)")
            #expect((problem?["status"] as? NSNumber)?.intValue == status)
        }
    }

    @Test func tooManyIDsAndWrongMethodsAreRefused() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 5)) { gateway in
            let ids = (1...101).map(String.init).joined(separator: ",")
            #expect(try await gateway.get("/v1/products?ids=\(ids)").status == 400)
            let post = try await gateway.get("/v1/products/1", method: "POST")
            #expect(post.status == 405)
            #expect(post.header("allow") == "GET, HEAD")
            let delete = try await gateway.get("/v1/categories", over: .h2c, method: "DELETE")
            #expect(delete.status == 405)
        }
    }
}

@Suite struct CompressionTests {
    @Test func gzipIsServedFromTheStoredCompressedForm() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 30)) { gateway in
            let path = "/v1/categories/1/products?per_page=20"
            let plain = try await gateway.get(path)
            #expect(plain.header("content-encoding") == nil)
            #expect(plain.header("vary") == "accept-encoding")
            for version in TestGateway.WireProtocol.allCases where version != .h2 {
                let compressed = try await gateway.get(path, over: version, headers: ["Accept-Encoding": "gzip"])
                #expect(compressed.header("content-encoding") == "gzip")
                #expect(compressed.header("etag") != plain.header("etag"))
                let length = try #require(compressed.header("content-length").flatMap(Int.init))
                #expect(length < plain.body.utf8.count / 2)
                // It really is the same body: let curl decompress it.
                let decoded = try await TestGateway.curl(
                    url: "http://127.0.0.1:\(gateway.port)\(path)", version: version, headers: [:], method: "GET",
                    compressed: true)
                #expect(decoded.body == plain.body)
                let etag = try #require(compressed.header("etag"))
                let notModified = try await gateway.get(
                    path, over: version, headers: ["Accept-Encoding": "gzip", "If-None-Match": etag])
                #expect(notModified.status == 304)
            }
            let refused = try await gateway.get(path, headers: ["Accept-Encoding": "gzip;q=0"])
            #expect(refused.header("content-encoding") == nil)
        }
    }
}
