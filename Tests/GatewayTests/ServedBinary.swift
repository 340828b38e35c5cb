import Foundation
import Logging
import PostgresNIO
import TestSupport
import Testing

/// The `gateway` binary serving a database of its own, as an operator runs it: migrated and
/// seeded by the binary itself, stopped by SIGTERM.
final class ServedBinary: @unchecked Sendable {
    static var path: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent(".build/debug/gateway").path
    }

    let process = Process()
    let log: URL
    let database: String
    let environment: [String: String]
    private(set) var port = 0
    private(set) var adminPort = 0

    static let adminToken = "blackbox-admin-token-0123456789"
    static let hookSecret = "blackbox-hook-secret-0123456789"

    init(environment extra: [String: String] = [:]) throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.path), "build the gateway first (scripts/test does)")
        database = TestEnvironment.uniqueName("bin")
        log = FileManager.default.temporaryDirectory.appendingPathComponent(database + ".log")
        var environment = ProcessInfo.processInfo.environment
        let url = try TestEnvironment.postgresURL
        environment["GATEWAY_POSTGRES_URL"] = url[..<(url.lastIndex(of: "/") ?? url.endIndex)] + "/" + database
        environment["GATEWAY_MONGO_DATABASE"] = database
        environment["GATEWAY_HTTP_HOST"] = "127.0.0.1"
        environment["GATEWAY_HTTP_PORT"] = "0"
        environment["GATEWAY_ADMIN_PORT"] = "0"
        environment["GATEWAY_CACHE_PREFIX"] = database
        environment["GATEWAY_ADMIN_TOKENS"] = Self.adminToken
        environment["GATEWAY_HOOK_SECRET"] = Self.hookSecret
        environment["GATEWAY_LOG_LEVEL"] = "info"  // the ports are read from the start-up lines
        for (name, value) in extra { environment[name] = value }
        self.environment = environment
    }

    /// Creates the database, migrates and seeds it, and starts serving.
    func start(categories: Int = 2, perCategory: Int = 20) async throws {
        let server = try PostgresServer(url: try TestEnvironment.postgresURL)
        try await server.admin(logger: Logger(label: "test")) { client in
            try await client.query(
                PostgresQuery(unsafeSQL: "CREATE DATABASE \(self.database)"), logger: Logger(label: "test"))
        }
        try await run(["migrate"])
        try await run(["seed", "--categories", "\(categories)", "--per-category", "\(perCategory)"])
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = ["serve"]
        process.environment = environment
        process.standardOutput = output
        process.standardError = output
        try process.run()
        var text = ""
        for _ in 0..<200 where !text.contains("Server started") || !text.contains("storefront listening") {
            try await Task.sleep(for: .milliseconds(100))
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        }
        guard
            let storefront = text.firstMatch(of: /address=127\.0\.0\.1:(\d+)[^\n]*storefront listening/).flatMap({
                Int($0.1)
            }),
            let admin = text.firstMatch(of: /Server started and listening on 127\.0\.0\.1:(\d+)/).flatMap({ Int($0.1) })
        else {
            throw TestEnvironment.MissingService(name: "a serving gateway (log: \(text.suffix(1500)))")
        }
        port = storefront
        adminPort = admin
    }

    var isRunning: Bool { process.isRunning }

    /// SIGTERM, then the database is dropped.
    func stop() async {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<150 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        if let server = try? PostgresServer(url: try TestEnvironment.postgresURL) {
            try? await server.admin(logger: Logger(label: "test")) { client in
                try await client.query(
                    PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(self.database) WITH (FORCE)"),
                    logger: Logger(label: "test"))
            }
        }
    }

    private func run(_ arguments: [String]) async throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: Self.path)
        child.arguments = arguments
        child.environment = environment
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            child.terminationHandler = { _ in continuation.resume() }
            do { try child.run() } catch { continuation.resume(throwing: error) }
        }
        try #require(child.terminationStatus == 0, "gateway \(arguments.joined(separator: " ")) failed")
    }
}
