import ArgumentParser
import Foundation
import Gateway
import Hybrid

extension CatalogImporter.ErrorPolicy: ExpressibleByArgument {}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import products from a JSON Lines file (one product per line).",
        discussion: """
            Each line: {"id": 1, "sku": "SKU-1", "category": {"id": 1, "slug": "lamps", "name": "Lamps"},
            "status": "active", "created_at": "2024-03-05T12:34:56Z", "name": "…", "description": "…",
            "price": "49.90", "currency": "EUR", "attributes": {…}, "images": ["https://…"]}.
            Existing ids are updated. Bad lines are reported with their line number and reason.
            """
    )

    @Argument(help: "The JSON Lines file.")
    var file: String

    @Option(name: .customLong("on-error"), help: "What a bad line does: skip (report it and go on) or abort.")
    var onError: CatalogImporter.ErrorPolicy = .skip

    @Option(help: "Products per batch (one SQL statement and one MongoDB bulk write each).")
    var batchSize: Int = 1000

    func validate() throws {
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be from 1 to 10000") }
    }

    func run() async throws {
        let (configuration, logger) = try loadConfiguration()
        let display = ProgressDisplay(title: "import", unit: "products", logger: logger)
        let (invalidator, redis) = try Backends.invalidator(configuration: configuration, logger: logger)
        defer { Task { await redis.close() } }
        let summary = try await Backends.with(configuration: configuration, logger: logger) { backends in
            let importer = CatalogImporter(
                catalog: backends.catalog, invalidator: invalidator, batchSize: batchSize, policy: onError,
                progress: { progress in
                    display.update(
                        done: progress.done, total: progress.total, count: progress.imported,
                        extra: progress.rejected > 0 ? "(\(progress.rejected) refused)" : "")
                })
            defer { display.finish() }
            do {
                return try await importer.importFile(atPath: file)
            } catch let error as CatalogImportError {
                display.finish()
                throw ValidationError("import \(error)")
            }
        }
        printSummary(summary, verb: "imported")
        if summary.rejected > 0 { throw ExitCode(1) }
    }
}

func printSummary(_ summary: CatalogImporter.Summary, verb: String) {
    print(
        "\(verb) \(summary.imported) products in \(String(format: "%.1f", summary.seconds)) s "
            + "(\(Int(summary.rate)) products/s); \(summary.rejected) lines refused")
    if summary.invalidationsPending > 0 {
        print(
            "  cache invalidation of \(summary.invalidationsPending) products is pending (Redis unreachable); "
                + "a running gateway delivers it")
    }
    for error in summary.errors { print("  \(error)") }
    if summary.rejected > summary.errors.count { print("  … and \(summary.rejected - summary.errors.count) more") }
}
