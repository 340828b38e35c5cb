import Foundation
import Hybrid
import PropertyBased
import Testing

@testable import Gateway

/// Values an attacker, a buggy client or a confused operator sends: edges of every numeric type,
/// text that is not what it seems, and sizes far past any limit.
enum Hostile {
    static let edges: [String] = [
        "", " ", "0", "-0", "+0", "00", "1", "-1", "+1", "01", "007", "3",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551616", String(repeating: "9", count: 400), "4294967296", "2147483648", "65536",
        "NaN", "nan", "inf", "-inf", "Infinity", "1e308", "1e309", "-1e308", "1e-308", "4.9e-324", "1e999999",
        "1e-999999", "0x10", "1_000", "1,000", "1.0", ".5", "5.", "1e2", " 1", "1 ", "\t1", "0.0", "-0.0",
        "\u{0}", "a\u{0}b", "%00", "%", "%%", "%2", "%zz", "%FF%FE", "%2C", "%2c", "%20", "%2F", "..", "/",
        "\u{FFFD}", "\u{FEFF}", "\u{1F600}", "é", "ℕ", "\u{202E}", "\u{7F}", "\r\n", "\n",
        "\"", "\\", "'", "<script>", "../../etc/passwd", "*", ",", ",,", ";", ";q=0", "W/", "W/\"", "\"\"",
        "gzip;q=0.0", "gzip;Q=0", "*;q=0", "gzip;q=1.0001", "gzip;q=-1", "gzip;q=", "gzip;q=0.00000",
        "newest", "price_asc", "price_desc", "NEWEST", "hard", "soft", "active", "draft", "archived", "EUR", "eur",
        "sha256=" + String(repeating: "a", count: 64), "sha256=" + String(repeating: "g", count: 64),
        String(repeating: "a", count: 7_000), String(repeating: "[", count: 1_000), String(repeating: ",", count: 500),
    ]

    static let megabyte = String(repeating: "x", count: 1 << 20)

    /// A hostile string: an edge, random bytes of ASCII (control characters included), random
    /// Unicode scalars, or a random number's text.
    static func string(_ rng: inout SplitMix64) -> String {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0, 1: return edges.randomElement(using: &rng) ?? ""
        case 2:
            return String(
                decoding: (0..<Int.random(in: 0...24, using: &rng)).map { _ in UInt8.random(in: 0...127, using: &rng) },
                as: UTF8.self)
        case 3:
            var text = ""
            for _ in 0..<Int.random(in: 0...8, using: &rng) {
                if let scalar = Unicode.Scalar(UInt32.random(in: 0...0x10FFFF, using: &rng)) {
                    text.unicodeScalars.append(scalar)
                }
            }
            return text
        case 4: return String(Int64.random(in: .min ... .max, using: &rng))
        default: return String(Double.random(in: -1e300...1e300, using: &rng))
        }
    }
}

/// The generated seed of a case: PropertyBased draws it, reports it on failure, and reproduces it
/// with `.fixedSeed(…)`; each case builds its hostile inputs from it.
let seeds = Gen.uint64(in: 0...UInt64.max)

/// JSON text built by hand, so it can carry what an encoder never writes: NUL escapes, lone
/// surrogates, duplicate keys, numbers no type holds, 10,000 levels of nesting.
enum HostileJSON {
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static let rawValues: [String] = [
        "null", "true", "false", "0", "-0", "1", "-1", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "1e308", "1e309", "-1e400", "1e-400", "4.9e-324", "0.1", "1.5",
        "123456789012345678901234567890",
        "\"\\ud800\"", "\"\\udc00x\"", "\"\\u0000\"", "\"a\\u0000b\"", "\"\\uFFFF\"", "[]", "{}", "[1,2,3]",
        "[\"https://x/1.jpg\"]",
        "[\"not a url\"]", "{\"$set\": 1}", "{\"a.b\": 1}", "{\"\": 1}",
        "{\"color\": \"red\", \"weight_g\": 420}", "{\"color\": \"re\\u0000d\"}", "{\"co\\u0000lor\": 1}",
    ]

    /// Costly to parse: drawn once in 1,000 values, so every run sees each a few times.
    static let heavyValues: [String] = [
        String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000),
        "\"" + Hostile.megabyte + "\"", "[" + Array(repeating: "1", count: 5000).joined(separator: ",") + "]",
        HostileJSON.string(String(repeating: "a", count: 70_000)),
    ]

    static func value(_ rng: inout SplitMix64, depth: Int = 0) -> String {
        if Int.random(in: 0..<1000, using: &rng) == 0 { return heavyValues.randomElement(using: &rng) ?? "null" }
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...3: return rawValues.randomElement(using: &rng) ?? "null"
        case 4...6: return string(Hostile.string(&rng))
        case 7: return String(Int64.random(in: .min ... .max, using: &rng))
        case 8 where depth < 3:
            return "["
                + (0..<Int.random(in: 0...3, using: &rng)).map { _ in value(&rng, depth: depth + 1) }.joined(
                    separator: ",") + "]"
        default:
            return depth < 3 ? object(&rng, keys: ["a", "b", "$c", "d.e", ""], depth: depth + 1) : "null"
        }
    }

    /// An object over `keys` (and an unknown one now and then), sometimes with a key twice.
    static func object(_ rng: inout SplitMix64, keys: [String], depth: Int = 0) -> String {
        var members: [String] = []
        for key in keys where Bool.random(using: &rng) {
            members.append(string(key) + ":" + value(&rng, depth: depth))
            if Int.random(in: 0..<10, using: &rng) == 0 {
                members.append(string(key) + ":" + value(&rng, depth: depth))
            }
        }
        if Int.random(in: 0..<8, using: &rng) == 0 { members.append(string("unknown_field") + ":1") }
        return "{" + members.joined(separator: ",") + "}"
    }
}

/// The fuzz battery: every parser of input, fed random and edge values, a few thousand cases
/// each. Valid input gets its normal result; invalid input a 4xx problem whose detail says what is
/// wrong; never a trap (which would end this process), a hang or anything else.
@Suite struct FuzzTests {
    static let cases = 2000

    /// What an error a parser threw becomes on the wire; `nil` when it is not one the HTTP layer
    /// maps to a 4xx with a detail.
    static func clientError(_ error: any Error) -> Problem? {
        let problem: Problem
        switch error {
        case let value as Problem: problem = value
        case let value as HybridError: problem = Problem(value)
        default: return nil
        }
        guard (400..<500).contains(Int(problem.status.code)), !problem.detail.isEmpty else { return nil }
        return problem
    }

    static func expectClientError(_ error: any Error, _ input: @autoclosure () -> String) {
        let problem = clientError(error)
        #expect(problem != nil, "not a 4xx problem: \(error) for \(input().prefix(200))")
    }

    @Test func storefrontRoutesAndQueries() async {
        let methods = ["GET", "HEAD", "POST", "DELETE", "", "get", "PRI", String(repeating: "G", count: 500)]
        await propertyCheck(count: Self.cases, input: seeds) { seed in
            var rng = SplitMix64(seed: seed)
            let pick = { (rng: inout SplitMix64) in Hostile.string(&rng) }
            let uri: String
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: uri = "/v1/products/\(pick(&rng))"
            case 1: uri = "/v1/categories/\(pick(&rng))/products"
            case 2: uri = "/v1/categories/1/products?page=\(pick(&rng))&per_page=\(pick(&rng))&sort=\(pick(&rng))"
            case 3: uri = "/v1/categories/1/products?page=\(pick(&rng))&page=\(pick(&rng))&per_page=100"
            case 4:
                uri =
                    "/v1/products?ids="
                    + (0..<Int.random(in: 0...120, using: &rng)).map { _ in pick(&rng) }.joined(separator: ",")
            case 5:
                uri =
                    "/v1/products?ids="
                    + (0..<Int.random(in: 0...120, using: &rng)).map { _ in
                        String(Int64.random(in: .min ... .max, using: &rng))
                    }
                    .joined(separator: "%2C")
            case 6: uri = "/v1/\(pick(&rng))"
            default: uri = pick(&rng)
            }
            let method = methods.randomElement(using: &rng) ?? "GET"
            // The byte-level parser of the common requests agrees with the full one wherever it
            // answers at all.
            if let quick = StorefrontRoute.parseCommon(method: method, uri: uri) {
                #expect(StorefrontRoute.parseInFull(method: method, uri: uri) == .success(quick), "\(uri.prefix(200))")
            }
            switch StorefrontRoute.parse(method: method, uri: uri) {
            case .success(let route):
                #expect(method == "GET" || method == "HEAD")
                switch route {
                case .product(let id): #expect(id > 0)
                case .products(let ids):
                    #expect(ids.allSatisfy { $0 > 0 } && ids.count <= 100 && Set(ids).count == ids.count)
                case .categoryProducts(let id, let request):
                    #expect(
                        id > 0 && request.page >= 1 && request.perPage >= 1 && request.page * request.perPage <= 10_000)
                case .categories: break
                }
            case .failure(let failure):
                let problem = Problem(failure)
                #expect((400..<500).contains(Int(problem.status.code)) && !problem.detail.isEmpty, "\(uri.prefix(200))")
            }
        }
    }

    /// The byte-level parser of the common requests against the full parser, on targets built
    /// from the pieces the two could read differently: ids at the edges of Int64, leading zeros,
    /// repeated, empty, unknown and value-less parameters, trailing slashes and the sort names.
    @Test func commonRoutesParseAsTheFullParserDoes() async {
        let prefixes = [
            "/v1/categories", "/v1/categories/", "/v1/categories/{id}/products", "/v1/categories/{id}/products/",
            "/v1/products/{id}", "/v1/products/{id}/", "/v1/products", "/v1/Categories", "/v2/categories",
            "/v1/categories/{id}", "/v1//categories", "v1/categories", "/v1/categories/{id}/productsx",
            "/v1/categories?\u{301}", "/v1/products/{id}?\u{301}",
        ]
        let ids = [
            "1", "0", "01", "007", "42", "9223372036854775807", "9223372036854775808", "-1", "+1", "", "1a", "%31",
            " 1", "99999999999999999999",
        ]
        let pairs = [
            "page=1", "page=2", "page=0", "page=01", "page=", "page", "page=123456789", "page=1234567890",
            "page=-1", "page=1e2", "per_page=20", "per_page=100", "per_page=10000", "per_page=10001", "per_page=0",
            "per_page=", "sort=newest", "sort=price_asc", "sort=price_desc", "sort=PRICE_ASC", "sort=", "sort",
            "x=1", "", "=", "==", "page==1", "pag%65=2", "page=1%20", "utm_source=mail", "page=500&per_page=20",
            "\u{301}", "x=\u{600}", "page=\u{301}2", "é=1", "sort=newest\u{301}",
        ]
        await propertyCheck(count: Self.cases, input: seeds) { seed in
            var rng = SplitMix64(seed: seed)
            var uri = (prefixes.randomElement(using: &rng) ?? "").replacingOccurrences(
                of: "{id}", with: ids.randomElement(using: &rng) ?? "1")
            if Bool.random(using: &rng) {
                uri +=
                    "?"
                    + (0..<Int.random(in: 0...4, using: &rng)).map { _ in pairs.randomElement(using: &rng) ?? "" }
                    .joined(separator: "&")
            }
            let method = ["GET", "HEAD", "POST"].randomElement(using: &rng) ?? "GET"
            if let quick = StorefrontRoute.parseCommon(method: method, uri: uri) {
                #expect(StorefrontRoute.parseInFull(method: method, uri: uri) == .success(quick), "\(uri)")
            }
        }
        // And it does answer the everyday ones.
        for uri in [
            "/v1/categories", "/v1/categories/1/products",
            "/v1/categories/7/products?page=2&per_page=50&sort=price_asc",
            "/v1/products/12", "/v1/categories/1/products?utm_source=mail&page=3",
        ] {
            let quick = StorefrontRoute.parseCommon(method: "GET", uri: uri)
            #expect(quick != nil, "\(uri)")
            #expect(quick.map { .success($0) } == StorefrontRoute.parseInFull(method: "GET", uri: uri))
        }
    }

    @Test func adminProductBodies() async {
        await propertyCheck(count: Self.cases, input: seeds) { seed in
            var rng = SplitMix64(seed: seed)
            let keys = Array(AdminRoutes.productFields)
            let json = HostileJSON.object(&rng, keys: keys)
            for (allowed, build) in [
                (AdminRoutes.productFields, { (body: JSONBody) in _ = try AdminRoutes.newProduct(body) }),
                (
                    AdminRoutes.productFields.subtracting(["id"]),
                    { (body: JSONBody) in _ = try AdminRoutes.productChanges(body) }
                ),
            ] {
                do {
                    try build(try JSONBody.parse(Array(json.utf8), allowed: allowed))
                } catch {
                    Self.expectClientError(error, json)
                    if let problem = Self.clientError(error), problem.detail.hasPrefix("field '") {
                        // The field named, or the top of its path (attributes.color, images[2]).
                        let name = problem.detail.dropFirst(7).prefix { $0 != "'" && $0 != "." && $0 != "[" }
                        #expect(AdminRoutes.productFields.contains(String(name)), "\(problem.detail)")
                    }
                }
            }
        }
    }

    /// Bulk update bodies: arrays of random items (and random non-arrays), parsed as the route does.
    @Test func bulkUpdateBodies() async {
        await propertyCheck(count: Self.cases, input: seeds) { seed in
            var rng = SplitMix64(seed: seed)
            let keys = Array(AdminRoutes.productFields.union(["version"]))
            let count = Int(rng.next() % 4)
            let items = (0..<count).map { _ in HostileJSON.object(&rng, keys: keys) }
            let json =
                rng.next() % 8 == 0 ? HostileJSON.object(&rng, keys: keys) : "[" + items.joined(separator: ",") + "]"
            do {
                for item in try AdminRoutes.bulkItems(Array(json.utf8)) {
                    guard case .object(let fields) = item else { continue }
                    do {
                        let body = try JSONBody.parse(fields, allowed: AdminRoutes.productFields.union(["version"]))
                        _ = try body.requiredInteger("id")
                        _ = try body.integer("version")
                        _ = try AdminRoutes.productChanges(body, ignoring: ["id", "version"])
                    } catch {
                        Self.expectClientError(error, json)
                    }
                }
            } catch {
                Self.expectClientError(error, json)
            }
        }
    }

    /// The costly edges, each in every place, every run: 10,000-deep nesting, 1 MiB strings,
    /// 5,000-element arrays, 70,000-character names.
    @Test(arguments: HostileJSON.heavyValues.indices)
    func heavyDocuments(index: Int) {
        let value = HostileJSON.heavyValues[index]
        for json in [value, #"{"name": \#(value)}"#, #"{"attributes": {"a": \#(value)}}"#, #"{"images": \#(value)}"#] {
            for parse in [
                {
                    _ = try AdminRoutes.productChanges(
                        try JSONBody.parse(Array(json.utf8), allowed: AdminRoutes.productFields))
                },
                { _ = try HookRoutes.request(try JSONBody.parse(Array(json.utf8), allowed: HookRoutes.fields)) },
            ] as [() throws -> Void] {
                do {
                    try parse()
                } catch {
                    Self.expectClientError(error, json)
                }
            }
            do {
                _ = try ImportLineDecoder().decode(Array(json.utf8), number: 3)
            } catch let error as ImportLineError {
                #expect(error.line == 3)
            } catch {
                Issue.record("not an ImportLineError: \(error)")
            }
        }
    }

    @Test func warmupCategoryAndHookBodies() async {
        await propertyCheck(count: Self.cases, input: seeds) { seed in
            var rng = SplitMix64(seed: seed)
            let warmup = HostileJSON.object(
                &rng, keys: ["categories", "pages", "sorts", "per_page", "concurrency", "rate"])
            do {
                let plan = try WarmupRoutes.plan(
                    try JSONBody.parse(
                        Array(warmup.utf8),
                        allowed: ["categories", "pages", "sorts", "per_page", "concurrency", "rate"]))
                #expect(plan.rate == 0 || (plan.rate >= WarmupPlan.minimumRate && plan.rate <= WarmupPlan.maximumRate))
                _ = plan.delay(before: Int.random(in: 0...1_000_000, using: &rng))
            } catch {
                Self.expectClientError(error, warmup)
            }
            let hook = HostileJSON.object(&rng, keys: ["products", "categories", "all", "mode"])
            do {
                let request = try HookRoutes.request(try JSONBody.parse(Array(hook.utf8), allowed: HookRoutes.fields))
                #expect(request.all || !request.products.isEmpty || !request.categories.isEmpty)
                #expect((request.products + request.categories).allSatisfy { $0 > 0 })
            } catch {
                Self.expectClientError(error, hook)
            }
            let category = HostileJSON.object(&rng, keys: ["id", "slug", "name", "parent_id"])
            do {
                let body = try JSONBody.parse(Array(category.utf8), allowed: AdminRoutes.categoryFields)
                _ = try body.integer("id")
                let slug = try body.requiredString("slug")
                let name = try body.requiredString("name")
                try ProductValidation.validateText(name, field: "name", allowingLineBreaks: false)
                _ = (slug, try body.integer("parent_id"))
            } catch {
                Self.expectClientError(error, category)
            }
        }
    }

    @Test func hookAndConditionalHeaders() async {
        let signer = HookSignature(secret: "fuzz-secret-0123456789")
        await propertyCheck(count: Self.cases, input: seeds) { seed in
            var rng = SplitMix64(seed: seed)
            let a = Hostile.string(&rng)
            let b = Hostile.string(&rng)
            let c = Hostile.string(&rng)
            do {
                _ = try signer.verify(signature: a, timestamp: b, body: Array(c.utf8))
                Issue.record("a random signature was accepted: \(a.prefix(80)) \(b.prefix(40))")
            } catch {
                #expect(error is HookSignature.Failure)
            }
            if let tags = EntityTags(a) {
                if let versions = tags.strongVersions { #expect(versions.allSatisfy { $0 > 0 }) }
                _ = tags.matchesWeakly(#""\#(b.prefix(20))""#)
            }
            _ = AcceptEncoding.acceptsGzip([a, b])
            _ = StorefrontHandler.matches(a, #""abc""#)
        }
    }

    @Test func importLines() async {
        let fields = [
            "id", "sku", "category", "status", "created_at", "name", "description", "price", "currency", "attributes",
            "images",
        ]
        await propertyCheck(count: Self.cases, input: seeds) { seed in
            var rng = SplitMix64(seed: seed)
            let number = Int.random(in: 1...Int.max, using: &rng)
            var line = HostileJSON.object(&rng, keys: fields)
            if Bool.random(using: &rng) {
                // Mostly well-formed records with one hostile field, so validation is reached.
                let field = fields.randomElement(using: &rng) ?? "name"
                line =
                    #"{"id": 7, "sku": "S-7", "category": {"id": 1, "slug": "s", "name": "S"}, "name": "N", "price": "1.00", "currency": "EUR", "#
                    + HostileJSON.string(field) + ":" + HostileJSON.value(&rng) + "}"
            }
            do {
                let record = try ImportLineDecoder().decode(Array(line.utf8), number: number)
                #expect(record.id > 0)
            } catch let error as ImportLineError {
                #expect(error.line == number)
                #expect(!error.reason.isEmpty)
            } catch {
                Issue.record("not an ImportLineError: \(error) for \(line.prefix(200))")
            }
        }
    }

    @Test func configurationValues() async {
        let names = GatewayConfiguration.settings.map(\.name)
        // Settings that are judged together with another one may name it instead.
        let related: [String: Set<String>] = [
            "GATEWAY_TLS_CERT": ["GATEWAY_TLS_KEY"], "GATEWAY_TLS_KEY": ["GATEWAY_TLS_CERT"],
            "GATEWAY_CACHE_SOFT_TTL_S": ["GATEWAY_CACHE_HARD_TTL_S"],
            "GATEWAY_INVALIDATION_PING_MS": ["GATEWAY_INVALIDATION_TIMEOUT_MS"],
        ]
        await propertyCheck(count: Self.cases, input: seeds) { seed in
            var rng = SplitMix64(seed: seed)
            let name = names.randomElement(using: &rng) ?? "GATEWAY_HTTP_PORT"
            let value = Hostile.string(&rng)
            do {
                _ = try GatewayConfiguration(environment: [name: value])
            } catch let error as ConfigurationError {
                #expect(error.setting == name || related[name, default: []].contains(error.setting), "\(error)")
                #expect(!error.message.isEmpty)
            } catch {
                Issue.record("\(name)=\(value.prefix(80)): not a ConfigurationError: \(error)")
            }
        }
    }
}
