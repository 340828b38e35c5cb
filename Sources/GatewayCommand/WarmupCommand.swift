import ArgumentParser
import CacheLayer
import Gateway
import Hybrid

extension ListingSort: ExpressibleByArgument {}

struct WarmupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warmup",
        abstract: "Fill the cache with category listings ahead of traffic.",
        discussion: """
            Goes through the same fill leases as storefront misses, so it never stampedes the databases and \
            never overwrites fresher data; pages already cached are counted as already warm. Exits non-zero \
            if any page failed.
            """
    )

    @Option(help: "Comma-separated category ids (default: every category).")
    var categories: String?

    @Option(help: "Pages per category and sort.")
    var pages: Int = 3

    @Option(parsing: .upToNextOption, help: "Sorts to warm (newest, price_asc, price_desc; default: all).")
    var sorts: [ListingSort] = ListingSort.allCases

    @Option(name: .customLong("per-page"), help: "Products per page, as storefronts ask for them.")
    var perPage: Int = PageRequest.defaultPerPage

    @Option(help: "Pages loaded at once.")
    var concurrency: Int = 4

    @Option(help: "At most this many pages per second (0: no limit).")
    var rate: Double = 0

    func run() async throws {
        let (configuration, logger) = try loadConfiguration()
        var ids: [Int64]?
        if let categories {
            ids = try categories.split(separator: ",").map {
                guard let id = Int64($0.trimmingCharacters(in: .whitespaces)), id > 0 else {
                    throw ValidationError("--categories must be comma-separated positive integers, got '\($0)'")
                }
                return id
            }
        }
        let plan: WarmupPlan
        do {
            plan = try WarmupPlan(
                categoryIDs: ids, pages: pages, sorts: sorts, perPage: perPage, concurrency: concurrency, rate: rate)
        } catch let error as HybridError {
            throw ValidationError(error.description)
        }
        let redis = RedisClient(configuration: try configuration.redisConfiguration(), logger: logger)
        let cache = CatalogResponder.makeCache(
            redis: redis, scheme: configuration.cacheKeyScheme, policy: configuration.cachePolicy, nearCacheBytes: 0,
            cacheControl: configuration.cacheControl, logger: logger)
        let display = ProgressDisplay(title: "warmup", unit: "pages", logger: logger)
        let progress = try await Backends.with(configuration: configuration, logger: logger) { backends in
            let responder = CatalogResponder(
                renderer: StorefrontRenderer(catalog: backends.catalog, mode: configuration.loadingMode), cache: cache,
                cacheControl: configuration.cacheControl, logger: logger)
            let job = WarmupJob(plan: plan, responder: responder, catalog: backends.catalog)
            defer { display.finish() }
            do {
                return try await job.run { progress in
                    display.update(
                        done: Int64(progress.done), total: Int64(progress.total), count: progress.done,
                        extra: progress.failed > 0 ? "(\(progress.failed) failed)" : "")
                }
            } catch let error as HybridError {
                throw ValidationError(error.description)
            }
        }
        await redis.close()
        print(
            "warmed \(progress.done) pages in \(String(format: "%.1f", progress.seconds)) s "
                + "(\(Int(progress.rate)) pages/s): \(progress.filled) filled, \(progress.alreadyWarm) already warm, "
                + "\(progress.failed) failed")
        for failure in progress.failures { print("  \(failure)") }
        if progress.failed > 0 { throw ExitCode(1) }
    }
}
