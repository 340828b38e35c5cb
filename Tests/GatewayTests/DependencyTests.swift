import Foundation
import Gateway
import Hybrid
import TestSupport
import Testing

/// docs/cache.md, "What a write invalidates": each kind of write, then which cached answers are
/// hits and which are misses (and the misses carry the new bytes). A multi-get is assembled from
/// the same per-product entries as the details, so the details stand for it here (and
/// `multiGetsFollowTheirProducts` checks one).
@Suite struct DependencyTests {
    /// The answers watched, by name.
    struct Watched {
        let product: Int64
        let other: Int64
        var paths: [String: String] {
            [
                "newest page 1": "/v1/categories/1/products?per_page=5",
                "newest page 2": "/v1/categories/1/products?per_page=5&page=2",
                "price page 1": "/v1/categories/1/products?per_page=5&sort=price_asc",
                "price page 2": "/v1/categories/1/products?per_page=5&page=2&sort=price_desc",
                "detail": "/v1/products/\(product)",
                "other detail": "/v1/products/\(other)",
                "categories": "/v1/categories",
                "other category": "/v1/categories/2/products?per_page=5",
            ]
        }
    }

    /// The prices (in 1/10,000) a page shows, as the gateway's range: lowest to highest, open
    /// towards the end of the order when the page is short.
    static func priceRange(in body: String, perPage: Int, ascending: Bool) throws -> ClosedRange<Double> {
        let page = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        let prices = try #require(page["items"] as? [[String: Any]]).compactMap {
            ($0["price"] as? String).flatMap(Double.init)
        }
        guard let low = prices.min(), let high = prices.max() else { return 0...Double.greatestFiniteMagnitude }
        guard prices.count < perPage else { return low...high }
        return ascending ? low...Double.greatestFiniteMagnitude : 0...high
    }

    static func price(in body: String) throws -> Double {
        let product = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        return try #require((product["price"] as? String).flatMap(Double.init))
    }

    static func ids(in body: String) throws -> [Int64] {
        let page = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        let items = try #require(page["items"] as? [[String: Any]])
        return items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
    }

    /// Reads every watched answer until it is a hit; returns the bodies.
    static func warm(_ gateway: TestGateway, _ watched: Watched) async throws -> [String: String] {
        var bodies: [String: String] = [:]
        for (name, path) in watched.paths {
            _ = try await gateway.get(path)
            let again = try await gateway.get(path)
            #expect(again.header("cache-status")?.contains("; hit") == true, "\(name) was not cached")
            bodies[name] = again.body
        }
        return bodies
    }

    /// After a write: the names that are misses now (the others must be hits).
    static func misses(_ gateway: TestGateway, _ watched: Watched) async throws -> Set<String> {
        let found = try await collectMisses(gateway, watched)
        print("misses after the write: \(found.sorted())")
        return found
    }

    static func collectMisses(_ gateway: TestGateway, _ watched: Watched) async throws -> Set<String> {
        var misses: Set<String> = []
        for (name, path) in watched.paths {
            let response = try await gateway.get(path)
            let status = response.header("cache-status") ?? ""
            if status.contains("fwd=miss") {
                misses.insert(name)
            } else {
                #expect(status.contains("; hit"), "\(name): \(status)")
            }
        }
        return misses
    }

    /// Refresh-ahead would refill what a write invalidated before the next read: off here, so a
    /// miss shows what was invalidated.
    static let noRefreshAhead = ["GATEWAY_REFRESH_AHEAD": "off"]

    @Test func eachKindOfWriteInvalidatesExactlyWhatShowsIt() async throws {
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 2, perCategory: 40), environment: Self.noRefreshAhead
        ) { gateway in
            let newest = try await gateway.get("/v1/categories/1/products?per_page=5")
            let firstPage = try Self.ids(in: newest.body)
            let product = try #require(firstPage.first)
            let second = try Self.ids(in: try await gateway.get("/v1/categories/1/products?per_page=5&page=2").body)
            let other = try #require(second.first)
            let watched = Watched(product: product, other: other)
            var version = try await currentVersion(gateway, product)

            func write(_ json: String, id: Int64? = nil) async throws {
                let target = id ?? product
                let response = try await gateway.admin(
                    "PATCH", "/admin/v1/products/\(target)", json: json)
                #expect(response.status == 200, "\(json): \(response.body)")
                if target == product { version += 1 }
            }

            // A description: only the product's detail and the multi-gets that carry it.
            _ = try await Self.warm(gateway, watched)
            try await write(#"{"description": "Described anew"}"#)
            #expect(try await Self.misses(gateway, watched) == ["detail"])
            #expect(try await gateway.get("/v1/products/\(product)").body.contains("Described anew"))

            // A name: the detail, the multi-gets and the listing pages that show the product.
            var bodies = try await Self.warm(gateway, watched)
            let onPricePage = try Self.ids(in: bodies["price page 1"] ?? "").contains(product)
            let onPricePage2 = try Self.ids(in: bodies["price page 2"] ?? "").contains(product)
            try await write(#"{"name": "Renamed for the table"}"#)
            var expected: Set<String> = ["detail", "newest page 1"]
            if onPricePage { expected.insert("price page 1") }
            if onPricePage2 { expected.insert("price page 2") }
            #expect(try await Self.misses(gateway, watched) == expected)
            #expect(
                try await gateway.get("/v1/categories/1/products?per_page=5").body.contains("Renamed for the table"))

            // A price: also the price-sorted pages whose prices meet the interval between the old
            // price and the new one (only there can the order change).
            bodies = try await Self.warm(gateway, watched)
            let oldPrice = try Self.price(in: bodies["detail"] ?? "")
            let moved = min(oldPrice, 1.25)...max(oldPrice, 1.25)
            try await write(#"{"price": "1.25"}"#)
            var priceExpected: Set<String> = ["detail", "newest page 1"]
            if try Self.priceRange(in: bodies["price page 1"] ?? "", perPage: 5, ascending: true).overlaps(moved) {
                priceExpected.insert("price page 1")
            }
            if try Self.priceRange(in: bodies["price page 2"] ?? "", perPage: 5, ascending: false).overlaps(moved) {
                priceExpected.insert("price page 2")
            }
            #expect(try await Self.misses(gateway, watched) == priceExpected)
            #expect(try Self.ids(in: try await gateway.get(watched.paths["price page 1"]!).body).first == product)

            // A price change far from a page's prices leaves it: the dearest product a little
            // dearer reaches the top of the descending order only.
            bodies = try await Self.warm(gateway, watched)
            let dearest = try #require(
                try Self.ids(
                    in: try await gateway.get("/v1/categories/1/products?per_page=1&sort=price_desc").body
                ).first)
            let dearestPrice = try Self.price(in: try await gateway.get("/v1/products/\(dearest)").body)
            _ = try await Self.warm(gateway, watched)
            let raised = try await gateway.admin(
                "PATCH", "/admin/v1/products/\(dearest)",
                json: #"{"price": "\#(String(format: "%.2f", dearestPrice + 1))"}"#)
            #expect(raised.status == 200, "\(raised.body)")
            let afterRaise = try await Self.misses(gateway, watched)
            #expect(!afterRaise.contains("price page 1"), "the cheapest page was invalidated by the dearest product")
            #expect(!afterRaise.contains("newest page 2") || dearest == other)

            // A change of another product on page 2 leaves page 1 alone.
            bodies = try await Self.warm(gateway, watched)
            try await write(#"{"images": ["https://example.com/new.jpg"]}"#, id: other)
            var otherExpected: Set<String> = ["other detail", "newest page 2"]
            for name in ["price page 1", "price page 2"]
            where try Self.ids(in: bodies[name] ?? "").contains(other) {
                otherExpected.insert(name)
            }
            #expect(try await Self.misses(gateway, watched) == otherExpected)

            // A status change: the category's membership (every page, its count).
            _ = try await Self.warm(gateway, watched)
            try await write(#"{"status": "draft"}"#)
            #expect(
                try await Self.misses(gateway, watched) == [
                    "detail", "newest page 1", "newest page 2", "price page 1", "price page 2",
                    "categories",
                ])
            #expect(try !Self.ids(in: try await gateway.get(watched.paths["newest page 1"]!).body).contains(product))

            // A move: both categories' membership.
            _ = try await Self.warm(gateway, watched)
            try await write(#"{"status": "active", "category_id": 2}"#)
            #expect(
                try await Self.misses(gateway, watched) == [
                    "detail", "newest page 1", "newest page 2", "price page 1", "price page 2",
                    "categories", "other category",
                ])

            // A category rename: the list of categories only (pages show a category's id).
            _ = try await Self.warm(gateway, watched)
            let renamed = try await gateway.admin("PATCH", "/admin/v1/categories/1", json: #"{"name": "Renamed"}"#)
            #expect(renamed.status == 200, "\(renamed.body)")
            #expect(try await Self.misses(gateway, watched) == ["categories"])

            // A create: the category's membership; nothing else.
            _ = try await Self.warm(gateway, watched)
            let created = try await gateway.admin(
                "POST", "/admin/v1/products",
                json: """
                    {"sku": "SKU-TABLE-1", "category_id": 1, "status": "active", "name": "New", "description": "d",
                     "price": "9.99", "currency": "EUR", "attributes": {}, "images": []}
                    """)
            #expect(created.status == 201, "\(created.body)")
            #expect(
                try await Self.misses(gateway, watched) == [
                    "newest page 1", "newest page 2", "price page 1", "price page 2", "categories",
                ])
        }
    }

    @Test func aHookNamingAProductReachesThePagesThatShowIt() async throws {
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 2, perCategory: 40), environment: Self.noRefreshAhead
        ) { gateway in
            let firstPage = try Self.ids(in: try await gateway.get("/v1/categories/1/products?per_page=5").body)
            let product = try #require(firstPage.first)
            let second = try Self.ids(in: try await gateway.get("/v1/categories/1/products?per_page=5&page=2").body)
            let watched = Watched(product: product, other: try #require(second.first))
            _ = try await Self.warm(gateway, watched)
            let body = #"{"products": [\#(product)]}"#
            let now = Int64(Date().timeIntervalSince1970)
            let signature = HookSignature(secret: TestGateway.hookSecret).sign(timestamp: now, body: Array(body.utf8))
            let hook = try await gateway.admin(
                "POST", "/hooks/v1/invalidate", json: body, token: nil,
                headers: ["X-Signature": signature, "X-Timestamp": String(now)])
            #expect(hook.status == 200, "\(hook.body)")
            // The product may have changed anything a listing shows, its price too.
            #expect(
                try await Self.misses(gateway, watched) == [
                    "detail", "newest page 1", "price page 1", "price page 2",
                ])
        }
    }

    @Test func multiGetsFollowTheirProducts() async throws {
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 2, perCategory: 10), environment: Self.noRefreshAhead
        ) { gateway in
            let ids = try Self.ids(in: try await gateway.get("/v1/categories/1/products?per_page=3").body)
            let path = "/v1/products?ids=" + ids.map(String.init).joined(separator: ",")
            _ = try await gateway.get(path)
            #expect(try await gateway.get(path).header("cache-status")?.contains("; hit") == true)
            let write = try await gateway.admin(
                "PATCH", "/admin/v1/products/\(ids[1])", json: #"{"description": "Multi"}"#)
            #expect(write.status == 200)
            let after = try await gateway.get(path)
            #expect(after.header("cache-status")?.contains("fwd=miss") == true)
            #expect(after.body.contains("Multi"))
            #expect(try await gateway.get(path).header("cache-status")?.contains("; hit") == true)
        }
    }

    @Test func aWriteRefillsTheRecentlyReadPagesItInvalidated() async throws {
        // A generous liveness timeout: on a test machine busy with other suites a late PING reply
        // would switch the near-cache off (and empty it) between the reads and the write.
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 2, perCategory: 40),
            environment: ["GATEWAY_INVALIDATION_TIMEOUT_MS": "15000", "GATEWAY_REFRESH_AHEAD": "on"]
        ) { gateway in
            let cache = try #require(gateway.application.cache)
            let near = try #require(cache.near)
            let deadline = ContinuousClock.now + .seconds(10)
            while !near.isEnabled && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(near.isEnabled, "the near-cache never came on")
            let pages = ["/v1/categories/1/products?per_page=5", "/v1/categories/1/products?per_page=5&sort=price_asc"]
            for page in pages {
                _ = try await gateway.get(page)
                #expect(try await gateway.get(page).header("cache-status")?.contains("; hit") == true)
            }
            #expect(near.count >= 2, "the pages read are not in the near-cache")
            let product = try #require(try Self.ids(in: try await gateway.get(pages[0]).body).first)
            let write = try await gateway.admin(
                "PATCH", "/admin/v1/products/\(product)", json: #"{"name": "Refilled ahead", "price": "0.50"}"#)
            #expect(write.status == 200, "\(write.body)")
            // The refills were queued before the write answered; wait for them to finish.
            while ContinuousClock.now < deadline {
                let counts = cache.refresher.counts
                if counts.queued == 0 && counts.running == 0 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            for page in pages {
                let next = try await gateway.get(page)
                #expect(
                    next.header("cache-status")?.contains("; hit") == true,
                    "\(page): \(next.header("cache-status") ?? "")")
                #expect(next.body.contains("Refilled ahead"), "\(page)")
            }
        }
    }

    func currentVersion(_ gateway: TestGateway, _ id: Int64) async throws -> Int64 {
        let body = try await gateway.admin("GET", "/admin/v1/products/\(id)").body
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        return try #require((object["version"] as? NSNumber)?.int64Value)
    }
}
