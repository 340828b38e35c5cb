import ArgumentParser
import Gateway
import Metrics
import Prometheus

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
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let application: GatewayApplication
        do {
            application = try GatewayApplication(configuration: configuration, logger: logger, registry: registry)
        } catch let error as ConfigurationError {
            throw ValidationError("configuration: \(error)")
        }
        logger.info(
            "starting",
            metadata: [
                "storefront": "\(configuration.httpHost):\(configuration.httpPort)",
                "admin": "\(configuration.adminHost):\(configuration.adminPort)",
                "cache": "\(configuration.cacheMode.rawValue)",
                "loading": "\(configuration.loadingMode.rawValue)",
            ])
        try await application.run()
    }
}
