import CacheLayer
import Foundation
import HTTPTypes
import Hummingbird
import NIOHTTP1
import Hybrid
import Metrics
import NIOCore

/// The admin API: product and category writes with optimistic concurrency.
struct AdminRoutes: Sendable {
    let catalog: HybridCatalog
    let invalidator: any TagInvalidator

    static let productFields: Set<String> = [
        "id", "sku", "category_id", "status", "name", "description", "price", "currency", "attributes", "images",
    ]
    static let categoryFields: Set<String> = ["id", "slug", "name", "parent_id"]
    /// The last phase of a write: reading the product back for the answer.
    static let responseTimer = Timer(label: "admin_write_phase_seconds", dimensions: [("phase", "response")])

    func register(on group: RouterGroup<BasicRequestContext>) {
        group.post("products") { request, _ in try await createProduct(request) }
        group.patch("products") { request, _ in try await updateProducts(request) }
        group.patch("products/:id") { request, context in try await updateProduct(request, id: try Self.id(context)) }
        group.delete("products/:id") { request, context in try await deleteProduct(request, id: try Self.id(context)) }
        group.get("products/:id") { _, context in try await readProduct(id: try Self.id(context)) }
        group.post("categories") { request, _ in try await createCategory(request) }
        group.patch("categories/:id") { request, context in try await updateCategory(request, id: try Self.id(context))
        }
    }

    private var writer: ProductWriter { ProductWriter(catalog: catalog, invalidator: invalidator) }

    func createProduct(_ request: Request) async throws -> Response {
        let product = try Self.newProduct(try await JSONBody.read(request, allowed: Self.productFields))
        let result = try await writer.create(product)
        return try await respond(result, created: true)
    }

    func updateProduct(_ request: Request, id: Int64) async throws -> Response {
        let expected = try Self.expectedVersions(request)
        let changes = try Self.productChanges(
            try await JSONBody.read(request, allowed: Self.productFields.subtracting(["id"])))
        return try await respond(
            try await writer.update(id: id, expectedVersions: expected, changes: changes), created: false)
    }

    /// The most bytes a bulk update may carry (1,000 items of a few KiB each).
    static let maximumBulkBytes = 8 << 20

    /// `PATCH /admin/v1/products`: a JSON array of up to 1,000 partial updates, each with its `id`
    /// and optionally the `version` it must be at. Each item gets its own status: 200 applied,
    /// 202 written but not yet applied everywhere, 400 invalid, 404 no such product, 412 version
    /// mismatch; the valid items are written in one transaction.
    func updateProducts(_ request: Request) async throws -> Response {
        let contentType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard contentType == "application/json" else {
            throw Problem(
                status: .unsupportedMediaType, title: "Unsupported Media Type",
                detail: "the body must be application/json, got '\(contentType ?? "nothing")'")
        }
        let bytes: [UInt8]
        do {
            bytes = Array(try await request.body.collect(upTo: Self.maximumBulkBytes).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw Problem(
                status: .payloadTooLarge, title: "Payload Too Large",
                detail: "a bulk update is at most 8 MiB; split it into several requests")
        }
        let items = try Self.bulkItems(bytes)
        var updates: [ProductBatchWriter.Update] = []
        var positions: [Int] = []
        var answers: [(id: Int64?, status: Int, version: Int64?, detail: String?)] = Array(
            repeating: (nil, 0, nil, nil), count: items.count)
        var seen: Set<Int64> = []
        for (index, item) in items.enumerated() {
            do {
                guard case .object(let fields) = item else {
                    throw Problem.badRequest("the item must be a JSON object")
                }
                let body = try JSONBody.parse(fields, allowed: Self.productFields.union(["version"]))
                let id = try body.requiredInteger("id")
                answers[index].id = id
                guard id > 0 else { throw Problem.badRequest("field 'id' must be a positive integer") }
                guard seen.insert(id).inserted else {
                    throw Problem.badRequest("product \(id) appears more than once in the request")
                }
                let version = try body.integer("version")
                if let version, version <= 0 { throw Problem.badRequest("field 'version' must be positive") }
                let changes: ProductChanges
                do {
                    changes = try Self.productChanges(body, ignoring: ["id", "version"])
                } catch let error as HybridError {
                    throw Problem(error)
                }
                updates.append(ProductBatchWriter.Update(id: id, expectedVersion: version, changes: changes))
                positions.append(index)
            } catch let problem as Problem {
                answers[index].status = 400
                answers[index].detail = problem.detail
            }
        }
        let (outcomes, pendingReason) = try await ProductBatchWriter(catalog: catalog, invalidator: invalidator)
            .update(updates)
        for (position, outcome) in zip(positions, outcomes) {
            switch outcome {
            case .applied(let version): answers[position].status = 200; answers[position].version = version
            case .pending(let version):
                answers[position].status = 202
                answers[position].version = version
                answers[position].detail = pendingReason
            case .notFound:
                answers[position].status = 404
                answers[position].detail = "product \(answers[position].id ?? 0) does not exist"
            case .versionConflict(let current):
                answers[position].status = 412
                answers[position].detail = "the product is at version \(current)"
                answers[position].version = current
            case .unknownCategory(let category):
                answers[position].status = 400
                answers[position].detail = "field 'category_id': category \(category) does not exist"
            }
        }
        var writer = JSONWriter(capacity: 64 + answers.count * 48)
        writer.beginObject()
        for (name, status) in [("applied", 200), ("pending", 202)] {
            writer.key(name)
            writer.int(Int64(answers.filter { $0.status == status }.count))
        }
        writer.key("failed")
        writer.int(Int64(answers.filter { $0.status >= 400 }.count))
        writer.key("items")
        writer.beginArray()
        for answer in answers {
            writer.beginObject()
            writer.key("id")
            if let id = answer.id { writer.int(id) } else { writer.null() }
            writer.key("status")
            writer.int(Int64(answer.status))
            if let version = answer.version {
                writer.key("version")
                writer.int(version)
            }
            if let detail = answer.detail {
                writer.key("detail")
                writer.string(detail)
            }
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return Self.json(.ok, writer.bytes)
    }

    /// The items of a bulk update body: a JSON array of 1 to 1,000 values.
    static func bulkItems(_ bytes: [UInt8]) throws -> [JSONValue] {
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw Problem.badRequest("the body is not valid JSON (or nests deeper than 512 levels)")
        }
        guard case .array(let items) = value else {
            throw Problem.badRequest("the body must be a JSON array of updates, each {\"id\": …, fields to change}")
        }
        guard !items.isEmpty else { throw Problem.badRequest("the array of updates is empty") }
        guard items.count <= ProductBatchWriter.maximumItems else {
            throw Problem.badRequest(
                "at most \(ProductBatchWriter.maximumItems) updates per request, got \(items.count)")
        }
        return items
    }

    /// A `POST /admin/v1/products` body as a product, validated like every write.
    /// - Throws: `Problem` (400) or `HybridError.invalidInput`, naming the field.
    static func newProduct(_ body: JSONBody) throws -> NewProduct {
        let id = try body.integer("id")
        if let id, id <= 0 { throw Problem.badRequest("field 'id' must be a positive integer") }
        let product = NewProduct(
            id: id, sku: try body.requiredString("sku"), categoryID: try body.requiredInteger("category_id"),
            status: try body.status("status") ?? .active,
            document: ProductDocument(
                name: try body.requiredString("name"), description: try body.string("description") ?? "",
                price: try body.requiredPrice("price"), currency: try body.requiredString("currency"),
                attributes: try body.object("attributes") ?? [:], images: try body.strings("images") ?? []))
        try ProductValidation.validate(product)
        return product
    }

    /// A `PATCH /admin/v1/products/{id}` body as changes, validated.
    static func productChanges(_ body: JSONBody, ignoring: Set<String> = []) throws -> ProductChanges {
        let changes = ProductChanges(
            sku: try body.string("sku"), categoryID: try body.integer("category_id"), status: try body.status("status"),
            name: try body.string("name"), description: try body.string("description"), price: try body.price("price"),
            currency: try body.string("currency"), attributes: try body.object("attributes"),
            images: try body.strings("images"))
        guard !changes.isEmpty else {
            throw Problem.badRequest(
                "the body changes nothing; send at least one of \(Self.productFields.subtracting(["id"]).subtracting(ignoring).sorted().joined(separator: ", "))"
            )
        }
        try ProductValidation.validate(changes)
        return changes
    }

    func deleteProduct(_ request: Request, id: Int64) async throws -> Response {
        let result = try await writer.delete(id: id, expectedVersions: try Self.expectedVersions(request))
        switch result.state {
        case .applied: return Response(status: .noContent)
        case .pending(let reason): return Self.json(.accepted, Self.pendingBody(id: id, version: nil, reason: reason))
        }
    }

    func readProduct(id: Int64) async throws -> Response {
        let product = try await ProductLoader(catalog: catalog).product(id: id, includeInactive: true)
        var response = Self.json(.ok, CatalogJSON.product(product))
        response.headers[.eTag] = "\"\(product.version)\""
        return response
    }

    func createCategory(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, allowed: Self.categoryFields)
        let (category, state) = try await CategoryWriter(catalog: catalog, invalidator: invalidator).create(
            id: try body.integer("id"), slug: try body.requiredString("slug"), name: try body.requiredString("name"),
            parentID: try body.integer("parent_id"))
        return Self.categoryResponse(category, state: state, status: .created)
    }

    func updateCategory(_ request: Request, id: Int64) async throws -> Response {
        let expected = try Self.expectedVersions(request)
        let body = try await JSONBody.read(request, allowed: Self.categoryFields.subtracting(["id"]))
        guard body.has("slug") || body.has("name") || body.has("parent_id") else {
            throw Problem.badRequest("the body changes nothing; send slug, name or parent_id")
        }
        let (category, state) = try await CategoryWriter(catalog: catalog, invalidator: invalidator).update(
            id: id, expectedVersions: expected, slug: try body.string("slug"), name: try body.string("name"),
            parentID: try body.integer("parent_id"))
        return Self.categoryResponse(category, state: state, status: .ok)
    }

    /// A write's answer: the product as stored once applied everywhere, `202` with the pending
    /// state when MongoDB or the cache has not caught up (the write is durable either way).
    private func respond(_ result: WriteResult, created: Bool) async throws -> Response {
        guard let row = result.row else { return Response(status: .noContent) }
        var response: Response
        // The ETag names the version the body shows (a later write may have overtaken this one).
        var version = row.version
        switch result.state {
        case .applied:
            let started = ContinuousClock.now
            let product = try await ProductLoader(catalog: catalog).product(row: row)
            Self.responseTimer.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
            version = product.version
            response = Self.json(created ? .created : .ok, CatalogJSON.product(product))
        case .pending(let reason):
            response = Self.json(.accepted, Self.pendingBody(id: row.id, version: row.version, reason: reason))
        }
        response.headers[.eTag] = "\"\(version)\""
        if created { response.headers[.location] = "/admin/v1/products/\(row.id)" }
        return response
    }

    static func pendingBody(id: Int64, version: Int64?, reason: String) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("id")
        writer.int(id)
        if let version {
            writer.key("version")
            writer.int(version)
        }
        writer.key("state")
        writer.string("pending")
        writer.key("detail")
        writer.string("committed and durable; not yet applied everywhere: \(reason)")
        writer.endObject()
        return writer.bytes
    }

    static func categoryResponse(_ category: Hybrid.Category, state: WriteResult.State, status: HTTPResponse.Status)
        -> Response
    {
        var writer = JSONWriter()
        writer.beginObject()
        CatalogJSON.categoryFields(category, into: &writer)
        writer.key("version")
        writer.int(category.version)
        if case .pending(let reason) = state {
            writer.key("state")
            writer.string("pending")
            writer.key("detail")
            writer.string(reason)
        }
        writer.endObject()
        var response = json(state == .applied ? status : .accepted, writer.bytes)
        response.headers[.eTag] = "\"\(category.version)\""
        return response
    }

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func id(_ context: BasicRequestContext) throws -> Int64 {
        let text = context.parameters.get("id") ?? ""
        switch StorefrontRoute.parseID(Substring(text), name: "id") {
        case .success(let id): return id
        case .failure(let failure): throw Problem(failure)
        }
    }

    /// `If-Match` (RFC 9110 §13.1.1): `*` or none means any version; otherwise the versions its
    /// strong tags name (the ETag is `"<version>"`). Weak tags and other opaque values are
    /// well-formed but can never match strongly: the write then answers 412.
    /// - Throws: `Problem` 400 for a malformed field.
    static func expectedVersions(_ request: Request) throws -> [Int64]? {
        let values = request.headers[values: .ifMatch]
        guard !values.isEmpty else { return nil }
        guard let tags = EntityTags(values.joined(separator: ", ")) else {
            throw Problem.badRequest(
                "If-Match must be * or entity-tags such as \"3\" (the ETag of the version last read); got '\(JSONBody.printable(values.joined(separator: ", ")))'"
            )
        }
        return tags.strongVersions
    }
}
