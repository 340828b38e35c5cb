import ArgumentParser
import Gateway
import Logging

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "A read-through caching HTTP/2 gateway for e-commerce catalogs.",
        discussion: "Settings come from GATEWAY_* environment variables; `gateway serve --help` lists them.",
        subcommands: [ServeCommand.self, MigrateCommand.self, SeedCommand.self, ImportCommand.self, WarmupCommand.self]
    )
}

/// Reads the configuration and sets up logging; a bad setting ends the command with its message.
func loadConfiguration() throws -> (GatewayConfiguration, Logger) {
    let configuration: GatewayConfiguration
    do {
        configuration = try GatewayConfiguration()
    } catch let error as ConfigurationError {
        throw ValidationError("configuration: \(error)")
    }
    let level = configuration.logLevel
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return (configuration, Logger(label: "gateway"))
}
