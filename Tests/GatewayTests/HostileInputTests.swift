import Foundation
import Gateway
import Hybrid
import TestSupport
import Testing

/// Each input that once crashed the process, hung a client or answered wrong, sent as a user
/// (or an attacker) would, to a running gateway; after each, the gateway must still answer.
@Suite struct HostileInputTests {
    func detail(_ response: TestGateway.Response) -> String {
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body.utf8))) as? [String: Any]
        return object?["detail"] as? String ?? ""
    }

    func expectAlive(_ gateway: TestGateway, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(try await gateway.get("/v1/categories").status == 200, sourceLocation: sourceLocation)
        #expect(try await gateway.admin("GET", "/healthz", token: nil).status == 200, sourceLocation: sourceLocation)
    }

    @Test func hookTimestampsAreDigitsOnlyAndNeverOverflow() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let body = #"{"products": [1]}"#
            let anySignature = "sha256=" + String(repeating: "a", count: 64)
            for timestamp in [
                "-9223372036854775808", "9223372036854775807", "+00\(Int(Date().timeIntervalSince1970))", " 1", "1e9",
                "", "0x10", "99999999999999999999999",
            ] {
                let answer = try await gateway.admin(
                    "POST", "/hooks/v1/invalidate", json: body, token: nil,
                    headers: ["X-Timestamp": timestamp, "X-Signature": anySignature])
                #expect(answer.status == 401, "X-Timestamp '\(timestamp)'")
                #expect(detail(answer).contains("X-Timestamp"), "\(answer.body)")
            }
            // A correct signature over a timestamp written with a sign is refused too.
            let signer = HookSignature(secret: TestGateway.hookSecret)
            let now = Int64(Date().timeIntervalSince1970)
            let signed = try await gateway.admin(
                "POST", "/hooks/v1/invalidate", json: body, token: nil,
                headers: ["X-Timestamp": "+\(now)", "X-Signature": signer.sign(timestamp: now, body: Array(body.utf8))])
            #expect(signed.status == 401)
            try await expectAlive(gateway)
        }
    }

    @Test func aSignedHookIsAppliedOnceAndItsReplayIsRefused() async throws {
        // Refresh-ahead off: the invalidated page stays a miss for the next reader to see.
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 1, perCategory: 3), environment: ["GATEWAY_REFRESH_AHEAD": "off"]
        ) { gateway in
            let listing = "/v1/categories/1/products"
            _ = try await gateway.get(listing)
            let body = #"{"categories": [1], "all": false}"#
            let signer = HookSignature(secret: TestGateway.hookSecret)
            let now = Int64(Date().timeIntervalSince1970)
            let headers = ["X-Timestamp": "\(now)", "X-Signature": signer.sign(timestamp: now, body: Array(body.utf8))]
            let first = try await gateway.admin(
                "POST", "/hooks/v1/invalidate", json: body, token: nil, headers: headers)
            #expect(first.status == 200)
            #expect(try await gateway.get(listing).header("cache-status")?.contains("fwd=miss") == true)
            #expect(try await gateway.get(listing).header("cache-status")?.contains("hit") == true)
            // The same signed request again: refused, and nothing is invalidated.
            let replay = try await gateway.admin(
                "POST", "/hooks/v1/invalidate", json: body, token: nil, headers: headers)
            #expect(replay.status == 409)
            #expect(detail(replay).contains("already applied"))
            #expect(try await gateway.get(listing).header("cache-status")?.contains("hit") == true)
        }
    }

    @Test func warmupRatesThatCannotBeScheduledAreRefused() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            for rate in ["1e-20", "1e308", "-1", "0.001", "100001", "1e400"] {
                let answer = try await gateway.admin(
                    "POST", "/admin/v1/warmup", json: #"{"rate": \#(rate), "pages": 1}"#)
                #expect(answer.status == 400, "rate \(rate): \(answer.body)")
                #expect(detail(answer).contains("rate") || detail(answer).contains("JSON"), "\(answer.body)")
            }
            let fine = try await gateway.admin("POST", "/admin/v1/warmup", json: #"{"rate": 0.5, "pages": 1}"#)
            #expect(fine.status == 202)
            try await expectAlive(gateway)
        }
    }

    @Test func nulInAnyTextIsABadRequestNamingTheField() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let cases: [(String, String, String)] = [
                ("POST", "/admin/v1/categories", #"{"slug": "nul", "name": "Bad\u0000Name"}"#),
                ("PATCH", "/admin/v1/products/1", #"{"attributes": {"color": "re\u0000d"}}"#),
                ("PATCH", "/admin/v1/products/1", #"{"attributes": {"co\u0000lor": "red"}}"#),
                ("PATCH", "/admin/v1/products/1", #"{"name": "A\u0000B"}"#),
                ("PATCH", "/admin/v1/products/1", #"{"images": ["https://x/\u0000.jpg"]}"#),
            ]
            for (method, path, json) in cases {
                let answer = try await gateway.admin(method, path, json: json)
                #expect(answer.status == 400, "\(json): \(answer.status) \(answer.body)")
                #expect(detail(answer).contains("NUL") || detail(answer).contains("U+0000"), "\(answer.body)")
            }
            try await expectAlive(gateway)
        }
    }

    @Test func duplicatesAreConflictsNamingTheFieldWithoutDatabaseText() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let product =
                #"{"id": 1, "sku": "NEW-1", "category_id": 1, "name": "Dup", "price": "1.00", "currency": "EUR"}"#
            let duplicateID = try await gateway.admin("POST", "/admin/v1/products", json: product)
            #expect(duplicateID.status == 409)
            #expect(detail(duplicateID).contains("field 'id'"), "\(duplicateID.body)")
            let sku = try #require(
                (try JSONSerialization.jsonObject(
                    with: Data(try await gateway.admin("GET", "/admin/v1/products/2").body.utf8)) as? [String: Any])?[
                        "sku"] as? String)
            let duplicateSKU = try await gateway.admin(
                "POST", "/admin/v1/products",
                json: #"{"sku": "\#(sku)", "category_id": 1, "name": "Dup", "price": "1.00", "currency": "EUR"}"#)
            #expect(duplicateSKU.status == 409)
            #expect(detail(duplicateSKU).contains("field 'sku'"), "\(duplicateSKU.body)")
            for answer in [duplicateID, duplicateSKU] {
                #expect(!answer.body.contains("Key ("), "database text leaked: \(answer.body)")
                #expect(!answer.body.contains("constraint"), "database text leaked: \(answer.body)")
            }
        }
    }

    @Test func ifMatchComparesStronglyAndOnlyAMalformedFieldIsABadRequest() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let change = #"{"name": "Conditional"}"#
            // Version 1 is current.
            for (ifMatch, status) in [
                (#""0""#, 412), (#"W/"1""#, 412), (#""2", "3""#, 412), (#""01""#, 412), (#""abc""#, 412),
                ("1", 400), (#""1"#, 400), (#"W/1"#, 400), (",", 400),
            ] {
                let answer = try await gateway.admin(
                    "PATCH", "/admin/v1/products/1", json: change, headers: ["If-Match": ifMatch])
                #expect(answer.status == status, "If-Match \(ifMatch): \(answer.status) \(answer.body)")
            }
            let listed = try await gateway.admin(
                "PATCH", "/admin/v1/products/1", json: change, headers: ["If-Match": #""7", "1""#])
            #expect(listed.status == 200)
            #expect(listed.header("etag") == #""2""#)
            let any = try await gateway.admin(
                "PATCH", "/admin/v1/products/1", json: #"{"name": "Any"}"#, headers: ["If-Match": "*"])
            #expect(any.status == 200)
        }
    }

    @Test func conditionalAndContentNegotiationFollowRFC9110() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 20)) { gateway in
            let path = "/v1/categories/1/products"
            let etag = try #require(try await gateway.get(path).header("etag"))
            // If-None-Match compares weakly, in a list, or as *.
            for value in [etag, "W/\(etag)", #""x", \#(etag)"#, "*"] {
                #expect(try await gateway.get(path, headers: ["If-None-Match": value]).status == 304, "\(value)")
            }
            #expect(try await gateway.get(path, headers: ["If-None-Match": #""other""#]).status == 200)
            #expect(try await gateway.get(path, headers: ["If-None-Match": "garbage"]).status == 200)
            // A weight of zero in any spelling refuses gzip.
            for value in ["gzip;q=0", "gzip;q=0.0", "gzip; Q=0.000", "*;q=0", "gzip;q=0, *", "identity", "br"] {
                let answer = try await gateway.get(path, headers: ["Accept-Encoding": value])
                #expect(answer.header("content-encoding") == nil, "Accept-Encoding \(value)")
            }
            for value in ["gzip", "GZIP;q=0.5", "*", "br, *;q=0.1", "x-gzip"] {
                let answer = try await gateway.get(path, headers: ["Accept-Encoding": value])
                #expect(answer.header("content-encoding") == "gzip", "Accept-Encoding \(value)")
            }
        }
    }

    @Test func anHTTP1RequestWithoutHostIsRefused() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let answer = try await gateway.get("/v1/categories", headers: ["Host": ""])
            #expect(answer.status == 400)
            #expect(detail(answer).contains("Host"))
            // HTTP/2 carries :authority instead; curl always sends it, and the answer is normal.
            #expect(try await gateway.get("/v1/categories", over: .h2c).status == 200)
        }
    }

    @Test func deepPagesAreRefusedAndPagesPastTheEndAreNotKeptLong() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 30)) { gateway in
            let deep = try await gateway.get("/v1/categories/1/products?page=10000&per_page=100")
            #expect(deep.status == 400)
            #expect(detail(deep).contains("page × per_page"), "\(deep.body)")
            #expect(try await gateway.get("/v1/categories/1/products?page=100&per_page=100").status == 200)
            let past = try await gateway.get("/v1/categories/1/products?page=50&per_page=20")
            #expect(past.status == 200)
            #expect(past.header("cache-control")?.contains("max-age=10") == true, "\(past.headers)")
        }
    }
}
