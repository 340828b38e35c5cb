import ArgumentParser
import Foundation
import Gateway
import Hybrid

struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Generate a deterministic demo catalog (same arguments, same data).",
        discussion: "Product ids run from 1 to categories × per-category; category c holds ids ((c-1)·M, c·M]."
    )

    @Option(help: "Number of categories.")
    var categories: Int = 20

    @Option(name: .customLong("per-category"), help: "Products per category.")
    var perCategory: Int = 200

    @Option(help: "Seed of the generator.")
    var seed: UInt64 = 42

    @Option(help: "Write the catalog as JSON Lines to this file instead of the databases.")
    var output: String?

    func validate() throws {
        guard (1...100_000).contains(categories) else { throw ValidationError("--categories must be from 1 to 100000") }
        guard (1...1_000_000).contains(perCategory) else {
            throw ValidationError("--per-category must be from 1 to 1000000")
        }
    }

    func run() async throws {
        let (configuration, logger) = try loadConfiguration()
        let generator = CatalogGenerator(categories: categories, perCategory: perCategory, seed: seed)
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil),
                let handle = FileHandle(forWritingAtPath: output)
            else { throw ValidationError("cannot write \(output)") }
            defer { try? handle.close() }
            var buffer: [UInt8] = []
            for record in generator {
                buffer.append(contentsOf: record.jsonLine())
                buffer.append(UInt8(ascii: "\n"))
                if buffer.count > 1 << 20 {
                    handle.write(Data(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            handle.write(Data(buffer))
            print("wrote \(generator.count) products in \(categories) categories to \(output)")
            return
        }
        let display = ProgressDisplay(title: "seed", unit: "products", logger: logger)
        let (invalidator, redis) = try Backends.invalidator(configuration: configuration, logger: logger)
        defer { Task { await redis.close() } }
        let summary = try await Backends.with(configuration: configuration, logger: logger) { backends in
            let importer = CatalogImporter(
                catalog: backends.catalog, invalidator: invalidator,
                progress: { display.update(done: $0.done, total: $0.total, count: $0.imported) })
            defer { display.finish() }
            return try await importer.importRecords(generator, count: generator.count)
        }
        printSummary(summary, verb: "seeded")
    }
}
