import Hybrid

/// A storefront request, parsed and validated before anything touches a cache or a database.
public enum StorefrontRoute: Sendable, Hashable {
    case categories
    case categoryProducts(categoryID: Int64, request: PageRequest)
    case product(id: Int64)
    /// Distinct ids in the order asked.
    case products(ids: [Int64])

    /// Why a request has no route.
    public enum Failure: Error, Sendable, Hashable {
        /// No such path (404).
        case notFound(path: String)
        /// A path that exists for other methods (405).
        case methodNotAllowed(method: String, path: String)
        /// A bad parameter (400); the detail names it.
        case invalid(detail: String)
    }

    /// The storefront's API paths accept GET and HEAD only.
    public static let allowedMethods = "GET, HEAD"

    /// Parses a method and a request target (`/v1/products?ids=1,2`).
    public static func parse(method: String, uri: String) -> Result<StorefrontRoute, Failure> {
        if let route = parseCommon(method: method, uri: uri) { return .success(route) }
        return parseInFull(method: method, uri: uri)
    }

    /// The requests a storefront sends all day (a listing page, a product, the categories), read
    /// from the target's bytes without allocating; anything else, valid or not, is `nil` and goes
    /// to `parseInFull`, which has the same answer for everything this accepts (a property test
    /// holds the two together) and the error details.
    static func parseCommon(method: String, uri: String) -> StorefrontRoute? {
        guard method == "GET" || method == "HEAD" else { return nil }
        var uri = uri
        return uri.withUTF8 { parseCommon(target: $0) }
    }

    private static func parseCommon(target bytes: UnsafeBufferPointer<UInt8>) -> StorefrontRoute? {
        // The full parser reads characters, and a combining mark joins the `?` or `&` before
        // it: any byte past ASCII goes there.
        for byte in bytes where byte >= 0x80 { return nil }
        var cursor = 0
        func skip(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - cursor >= count else { return false }
            let start = literal.utf8Start
            for offset in 0..<count where bytes[cursor + offset] != start[offset] { return false }
            cursor += count
            return true
        }
        /// The path ends here: at the end of the target or its query.
        var atPathEnd: Bool { cursor == bytes.count || bytes[cursor] == UInt8(ascii: "?") }
        func id() -> Int64? {
            var value: Int64 = 0
            let start = cursor
            while cursor < bytes.count, bytes[cursor] >= 48, bytes[cursor] <= 57 {
                let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowSum) = times.addingReportingOverflow(Int64(bytes[cursor] - 48))
                guard !overflowTimes, !overflowSum else { return nil }
                value = sum
                cursor += 1
            }
            return cursor > start && value > 0 ? value : nil
        }
        guard skip("/v1/") else { return nil }
        if skip("products/") {
            guard let id = id(), atPathEnd else { return nil }
            return .product(id: id)
        }
        guard skip("categories") else { return nil }
        if atPathEnd { return .categories }
        guard skip("/"), let category = id(), skip("/products"), atPathEnd else { return nil }
        guard let request = listingQuery(bytes, from: cursor) else { return nil }
        return .categoryProducts(categoryID: category, request: request)
    }

    /// `page`, `per_page` and `sort` of a listing's query (the last of a repeated name wins;
    /// other names are ignored), or `nil` for anything `parseInFull` should judge.
    private static func listingQuery(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> PageRequest? {
        var page = 1
        var perPage = PageRequest.defaultPerPage
        var sort = ListingSort.newest
        var cursor = start + 1  // past "?"
        while cursor < bytes.count {
            var end = cursor
            var equals = -1
            while end < bytes.count, bytes[end] != UInt8(ascii: "&") {
                if equals < 0 && bytes[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            defer { cursor = end + 1 }
            if end == cursor { continue }
            let nameEnd = equals < 0 ? end : equals
            let value = UnsafeBufferPointer(rebasing: bytes[(equals < 0 ? end : equals + 1)..<end])
            let name = UnsafeBufferPointer(rebasing: bytes[cursor..<nameEnd])
            if equal(name, "page") {
                guard let number = smallNumber(value) else { return nil }
                page = number
            } else if equal(name, "per_page") {
                guard let number = smallNumber(value) else { return nil }
                perPage = number
            } else if equal(name, "sort") {
                guard let parsed = ListingSort(rawValue: String(decoding: value, as: UTF8.self)) else { return nil }
                sort = parsed
            }
        }
        return try? PageRequest(page: page, perPage: perPage, sort: sort)
    }

    private static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let start = literal.utf8Start
        for offset in 0..<bytes.count where bytes[offset] != start[offset] { return false }
        return true
    }

    /// 1 to 9 ASCII digits (as `parseInFull` accepts them).
    private static func smallNumber(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard (1...9).contains(bytes.count) else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }

    /// Parses any request target, with the detail of what is wrong when it has no route.
    static func parseInFull(method: String, uri: String) -> Result<StorefrontRoute, Failure> {
        let (path, query) = split(uri)
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let route: Result<StorefrontRoute, Failure>
        switch Array(segments) {
        case ["v1", "categories"]:
            route = .success(.categories)
        case let parts where parts.count == 4 && parts[0] == "v1" && parts[1] == "categories" && parts[3] == "products":
            route = parseListing(id: parts[2], query: query)
        case let parts where parts.count == 3 && parts[0] == "v1" && parts[1] == "products":
            route = parseID(parts[2], name: "product id").map { .product(id: $0) }
        case ["v1", "products"]:
            route = parseIDs(query: query)
        default:
            return .failure(.notFound(path: String(path)))
        }
        guard method == "GET" || method == "HEAD" else {
            return .failure(.methodNotAllowed(method: method, path: String(path)))
        }
        return route
    }

    /// The cache key of the route's response, canonical so equal requests share one entry
    /// (`page=01` and `page=1` are one key).
    public var cacheKey: String {
        switch self {
        case .categories: "categories"
        case .categoryProducts(let id, let request):
            "cat:\(id):\(request.sort.rawValue):\(request.perPage):\(request.page)"
        case .product(let id): "product:\(id)"
        case .products(let ids): "products:" + ids.map(String.init).joined(separator: ",")
        }
    }

    /// A category listing page: its cache entry depends on the products it shows.
    public var isListing: Bool {
        if case .categoryProducts = self { return true }
        return false
    }

    /// The metrics label of the route.
    public var name: String {
        switch self {
        case .categories: "categories"
        case .categoryProducts: "category_products"
        case .product: "product"
        case .products: "products"
        }
    }

    private static func split(_ uri: String) -> (Substring, Substring) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri[...], "") }
        return (uri[..<mark], uri[uri.index(after: mark)...])
    }

    /// The query's parameters; a repeated name keeps its last value.
    static func parameters(_ query: Substring) -> [Substring: Substring] {
        var values: [Substring: Substring] = [:]
        for pair in query.split(separator: "&") {
            if let equals = pair.firstIndex(of: "=") {
                values[pair[..<equals]] = pair[pair.index(after: equals)...]
            } else {
                values[pair] = ""
            }
        }
        return values
    }

    static func parseID(_ text: Substring, name: String) -> Result<Int64, Failure> {
        let decoded = text.replacingOccurrences(of: "%20", with: " ")
        guard !decoded.isEmpty, decoded.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            return .failure(.invalid(detail: "\(name) must be a positive integer, got '\(decoded.prefix(40))'"))
        }
        guard let id = Int64(decoded) else {
            return .failure(
                .invalid(detail: "\(name) is too large (at most \(Int64.max)), got '\(decoded.prefix(40))'"))
        }
        guard id > 0 else { return .failure(.invalid(detail: "\(name) must be a positive integer, got \(id)")) }
        return .success(id)
    }

    private static func parseInteger(_ text: Substring?, name: String, default value: Int) -> Result<Int, Failure> {
        guard let text else { return .success(value) }
        guard !text.isEmpty, text.count <= 9, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let number = Int(text)
        else {
            return .failure(.invalid(detail: "\(name) must be a whole number, got '\(text.prefix(40))'"))
        }
        return .success(number)
    }

    private static func parseListing(id: Substring, query: Substring) -> Result<StorefrontRoute, Failure> {
        let categoryID: Int64
        switch parseID(id, name: "category id") {
        case .success(let value): categoryID = value
        case .failure(let failure): return .failure(failure)
        }
        let parameters = parameters(query)
        let page: Int
        let perPage: Int
        switch parseInteger(parameters["page"], name: "page", default: 1) {
        case .success(let value): page = value
        case .failure(let failure): return .failure(failure)
        }
        switch parseInteger(parameters["per_page"], name: "per_page", default: PageRequest.defaultPerPage) {
        case .success(let value): perPage = value
        case .failure(let failure): return .failure(failure)
        }
        var sort = ListingSort.newest
        if let text = parameters["sort"] {
            guard let parsed = ListingSort(rawValue: String(text)) else {
                let known = ListingSort.allCases.map(\.rawValue).joined(separator: ", ")
                return .failure(.invalid(detail: "sort must be one of \(known), got '\(text.prefix(40))'"))
            }
            sort = parsed
        }
        do {
            return .success(
                .categoryProducts(
                    categoryID: categoryID, request: try PageRequest(page: page, perPage: perPage, sort: sort)))
        } catch let error as HybridError {
            return .failure(.invalid(detail: error.description))
        } catch {
            return .failure(.invalid(detail: "\(error)"))
        }
    }

    private static func parseIDs(query: Substring) -> Result<StorefrontRoute, Failure> {
        guard let list = parameters(query)["ids"], !list.isEmpty else {
            return .failure(.invalid(detail: "ids is required: a comma-separated list of product ids, e.g. ?ids=1,2,3"))
        }
        let parts = list.replacingOccurrences(of: "%2C", with: ",").replacingOccurrences(of: "%2c", with: ",")
            .split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= ProductLoader.maximumIDs else {
            return .failure(.invalid(detail: "at most \(ProductLoader.maximumIDs) ids per request, got \(parts.count)"))
        }
        var ids: [Int64] = []
        var seen = Set<Int64>()
        for part in parts {
            switch parseID(part, name: "each id") {
            case .success(let id): if seen.insert(id).inserted { ids.append(id) }
            case .failure(let failure): return .failure(failure)
            }
        }
        return .success(.products(ids: ids))
    }
}
