import Foundation
import Gateway
import Hybrid
import Logging
import Metrics
import Prometheus
import PostgresNIO
import ServiceLifecycle
import TestSupport
import Testing

/// A whole gateway process in the test: fresh databases, a seeded catalog, a private cache
/// prefix, the storefront on a free port, all against the services the scripts start.
struct TestGateway: Sendable {
    let application: GatewayApplication
    let port: Int
    let adminPort: Int
    /// The TLS storefront port, when the test configured a certificate.
    let tlsPort: Int?
    let services: ServiceGroup

    /// Stops the gateway as SIGTERM does (the test can watch its connections meanwhile).
    func stopGracefully() async {
        await services.triggerGracefulShutdown()
    }

    static let adminToken = "test-admin-token-0123456789"
    static let hookSecret = "test-hook-secret-0123456789"

    var catalog: HybridCatalog { application.backends.catalog }
    var writer: ProductWriter { ProductWriter(catalog: catalog, invalidator: application.invalidator) }

    /// The process's metrics go here (bootstrapping is once per process).
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    static let logger: Logger = {
        var logger = Logger(label: "gateway-test")
        logger.logLevel = .error
        return logger
    }()

    static func with(
        seed generator: CatalogGenerator = CatalogGenerator(categories: 3, perCategory: 30),
        environment extra: [String: String] = [:], postgresURL: String? = nil,
        _ body: @escaping @Sendable (TestGateway) async throws -> Void
    ) async throws {
        let server = try PostgresServer(url: try postgresURL ?? TestEnvironment.postgresURL)
        let database = TestEnvironment.uniqueName("gw")
        try await server.admin(logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger)
        }
        var environment = [
            "GATEWAY_POSTGRES_URL": "postgres://\(server.username)@\(server.host):\(server.port)/\(database)",
            "GATEWAY_POSTGRES_POOL_SIZE": "8",
            "GATEWAY_MONGO_URL": try TestEnvironment.mongoURL,
            "GATEWAY_MONGO_DATABASE": database,
            "GATEWAY_MONGO_POOL_SIZE": "4",
            "GATEWAY_REDIS_URL": try TestEnvironment.redisURL,
            "GATEWAY_HTTP_HOST": "127.0.0.1",
            "GATEWAY_HTTP_PORT": "0",
            "GATEWAY_CACHE_PREFIX": database,
            "GATEWAY_ADMIN_HOST": "127.0.0.1",
            "GATEWAY_ADMIN_PORT": "0",
            "GATEWAY_ADMIN_TOKENS": adminToken,
            "GATEWAY_HOOK_SECRET": hookSecret,
        ]
        // scripts/test runs the HTTP suites once per HTTP/2 engine.
        if let engine = ProcessInfo.processInfo.environment["GATEWAY_HTTP2_ENGINE"] {
            environment["GATEWAY_HTTP2_ENGINE"] = engine
        }
        environment.merge(extra) { $1 }
        let configuration = try GatewayConfiguration(environment: environment)
        let application = try GatewayApplication(configuration: configuration, logger: logger, registry: registry)
        let services = application.makeServiceGroup(gracefulShutdownSignals: [])
        let outcome: Result<Void, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await application.run(services) }
            // Stopped as an operator stops it: gracefully, listeners first, databases last.
            defer { Task { await services.triggerGracefulShutdown() } }
            do {
                try await Migrator(catalog: application.backends.catalog).migrate()
                try await CatalogImporter(catalog: application.backends.catalog, invalidator: application.invalidator)
                    .importRecords(generator, count: generator.count)
                let port = try await application.storefront.port
                let adminPort = try await application.admin.port
                let tlsPort = try await application.secureStorefront?.port
                try await body(
                    TestGateway(
                        application: application, port: port, adminPort: adminPort, tlsPort: tlsPort,
                        services: services))
                try? await application.backends.catalog.mongo.dropDatabase()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try? await server.admin(logger: logger) { client in
            try await client.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"), logger: logger)
        }
        try outcome.get()
    }

    /// A request made by curl, the way a user would make it.
    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: String
        var version: String

        func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    enum WireProtocol: String, Sendable, CaseIterable {
        case http1 = "--http1.1"
        case h2c = "--http2-prior-knowledge"
        /// HTTP/2 negotiated by ALPN over TLS (with https URLs).
        case h2 = "--http2"
    }

    func get(
        _ path: String, over version: WireProtocol = .http1, headers: [String: String] = [:], method: String = "GET"
    )
        async throws -> Response
    {
        try await Self.curl(url: "http://127.0.0.1:\(port)\(path)", version: version, headers: headers, method: method)
    }

    /// A request to the TLS storefront port.
    func getSecure(_ path: String, over version: WireProtocol) async throws -> Response {
        try await Self.curl(
            url: "https://127.0.0.1:\(tlsPort ?? 0)\(path)", version: version, headers: [:], method: "GET")
    }

    /// A request to the admin port; `token` nil sends no Authorization header.
    func admin(
        _ method: String, _ path: String, json: String? = nil, token: String? = TestGateway.adminToken,
        headers: [String: String] = [:]
    ) async throws -> Response {
        var headers = headers
        if let token { headers["Authorization"] = "Bearer \(token)" }
        if json != nil, headers["Content-Type"] == nil { headers["Content-Type"] = "application/json" }
        return try await Self.curl(
            url: "http://127.0.0.1:\(adminPort)\(path)", version: .http1, headers: headers, method: method, body: json)
    }

    /// Runs curl without blocking a thread of the cooperative pool (the gateway under test needs them).
    static func curl(
        url: String, version: WireProtocol, headers: [String: String], method: String, body requestBody: String? = nil,
        compressed: Bool = false
    ) async throws -> Response {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("curl"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let headFile = directory.appendingPathComponent("head").path
        let bodyFile = directory.appendingPathComponent("body").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.executable(named: "curl"))
        var arguments = ["-s", "--max-time", "10", version.rawValue, "-D", headFile, "-o", bodyFile]
        if url.hasPrefix("https:") { arguments.append("--insecure") }
        if compressed { arguments.append("--compressed") }  // the tests' self-signed certificate
        arguments += method == "HEAD" ? ["-I"] : ["-X", method]
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if let requestBody {
            let bodyPath = directory.appendingPathComponent("request").path
            try requestBody.write(toFile: bodyPath, atomically: true, encoding: .utf8)
            arguments += ["--data-binary", "@" + bodyPath]
        }
        process.arguments = arguments + [url]
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let head = (try? String(contentsOfFile: headFile, encoding: .utf8)) ?? ""
        let body = (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? ""
        // With -D, a 304 or HEAD writes no body file; the last header block is the response's.
        let blocks = head.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
        guard let block = blocks.last else {
            throw TestEnvironment.MissingService(
                name: "an HTTP response from \(url) (curl exit \(process.terminationStatus))")
        }
        let lines = block.split(separator: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(
            status: statusParts.count > 1 ? Int(statusParts[1]) ?? 0 : 0, headers: fields, body: body,
            version: statusParts.first.map(String.init) ?? "")
    }
}
