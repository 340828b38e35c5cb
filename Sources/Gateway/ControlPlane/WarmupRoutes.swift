import Foundation
import HTTPTypes
import Hummingbird
import Hybrid
import NIOCore

/// `POST /admin/v1/warmup` starts a job (202 with its id); `GET /admin/v1/warmup/{id}` reports it.
struct WarmupRoutes: Sendable {
    let jobs: WarmupJobs

    func register(on group: RouterGroup<BasicRequestContext>) {
        group.post("warmup") { request, _ in try await start(request) }
        group.get("warmup/:id") { _, context in
            guard let id = context.parameters.get("id"), let job = jobs.job(id: id) else {
                throw Problem.notFound("no warmup job with that id (the last 100 jobs are kept)")
            }
            return AdminRoutes.json(.ok, Self.report(job))
        }
    }

    func start(_ request: Request) async throws -> Response {
        let plan = try Self.plan(
            try await JSONBody.read(
                request, allowed: ["categories", "pages", "sorts", "per_page", "concurrency", "rate"]))
        let job = jobs.start(plan)
        var response = AdminRoutes.json(.accepted, Self.report(job))
        response.headers[.location] = "/admin/v1/warmup/\(job.id)"
        return response
    }

    /// A `POST /admin/v1/warmup` body as a plan.
    /// - Throws: `Problem` (400) naming the field.
    static func plan(_ body: JSONBody) throws -> WarmupPlan {
        var sorts = ListingSort.allCases
        if let names = try body.strings("sorts") {
            sorts = try names.map { name in
                guard let sort = ListingSort(rawValue: name) else {
                    throw Problem.badRequest(
                        "field 'sorts' may hold newest, price_asc, price_desc; got '\(JSONBody.printable(name))'")
                }
                return sort
            }
        }
        let rate: Double
        switch body.fields["rate"] {
        case .int(let value): rate = Double(value)
        case .double(let value): rate = value
        case nil: rate = 0
        default: throw Problem.badRequest("field 'rate' must be a number of pages per second")
        }
        func small(_ name: String, default value: Int) throws -> Int {
            guard let number = try body.integer(name) else { return value }
            guard let exact = Int(exactly: number), (-1_000_000...1_000_000).contains(exact) else {
                throw Problem.badRequest("field '\(name)' is out of range")
            }
            return exact
        }
        do {
            return try WarmupPlan(
                categoryIDs: try body.integers("categories"), pages: try small("pages", default: 3), sorts: sorts,
                perPage: try small("per_page", default: PageRequest.defaultPerPage),
                concurrency: try small("concurrency", default: 4), rate: rate)
        } catch let error as HybridError {
            throw Problem(error)
        }
    }

    static func report(_ job: WarmupJob) -> [UInt8] {
        let progress = job.progress
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("id")
        writer.string(job.id)
        writer.key("state")
        writer.string(progress.finished ? (progress.failed > 0 ? "finished-with-failures" : "finished") : "running")
        for (name, value) in [
            ("total", progress.total), ("done", progress.done), ("filled", progress.filled),
            ("already_warm", progress.alreadyWarm), ("failed", progress.failed),
        ] {
            writer.key(name)
            writer.int(Int64(value))
        }
        writer.key("rate_per_second")
        writer.double((progress.rate * 10).rounded() / 10)
        writer.key("seconds")
        writer.double((progress.seconds * 100).rounded() / 100)
        writer.key("failures")
        writer.beginArray()
        for failure in progress.failures { writer.string(failure) }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }
}
