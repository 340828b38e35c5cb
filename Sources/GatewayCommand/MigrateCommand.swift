import ArgumentParser
import Gateway
import Hybrid

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending PostgreSQL migrations and create MongoDB's indexes."
    )

    func run() async throws {
        let (configuration, logger) = try loadConfiguration()
        let applied = try await Backends.with(configuration: configuration, logger: logger) { backends in
            try await Migrator(catalog: backends.catalog).migrate()
        }
        print(
            applied.isEmpty
                ? "schema is current" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }
}
