import ArgumentParser
import Gateway

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the storefront (data plane) and admin (control plane) ports.",
        discussion: "Settings (environment variables, or KEY=value lines in the file named by GATEWAY_CONFIG_FILE):\n\n"
            + GatewayConfiguration.settings.map { "  \($0.name)\n      \($0.help) (default: \($0.defaultValue))" }
            .joined(separator: "\n")
    )

    func run() async throws {
        let (configuration, logger) = try loadConfiguration()
        let application: GatewayApplication
        do {
            application = try GatewayApplication(configuration: configuration, logger: logger)
        } catch let error as ConfigurationError {
            throw ValidationError("configuration: \(error)")
        }
        logger.info(
            "starting",
            metadata: [
                "storefront": "\(configuration.httpHost):\(configuration.httpPort)",
                "cache": "\(configuration.cacheMode.rawValue)",
                "loading": "\(configuration.loadingMode.rawValue)",
            ])
        try await application.run()
    }
}
