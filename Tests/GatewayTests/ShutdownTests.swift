import Foundation
import Logging
import PostgresNIO
import TestSupport
import Testing

/// The `gateway serve` binary, as an operator runs it.
@Suite(.serialized) struct ShutdownTests {
    static var binary: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent(".build/debug/gateway").path
    }

    /// SIGTERM while a request is being answered: the request completes, new connections are
    /// refused at once, and the process exits 0.
    @Test func sigtermFinishesTheRequestInFlightRefusesNewOnesAndExitsCleanly() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary), "build the gateway first (scripts/test does)")
        // A private Redis that the test freezes, so the request's cache read hangs for 3 s.
        let redis = try ServiceProcess.redis()
        try await redis.start()
        defer { redis.resume() }
        // A database of its own, migrated by the binary as an operator would.
        let server = try PostgresServer(url: try TestEnvironment.postgresURL)
        let database = TestEnvironment.uniqueName("shutdown")
        try await server.admin(logger: Logger(label: "test")) { client in
            try await client.query(
                PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: Logger(label: "test"))
        }
        do {
            try await serveAndStop(redis: redis, database: database)
        } catch {
            await Self.drop(database, on: server)
            throw error
        }
        await Self.drop(database, on: server)
        redis.resume()
        await redis.stop()
    }

    static func drop(_ database: String, on server: PostgresServer) async {
        try? await server.admin(logger: Logger(label: "test")) { client in
            try await client.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"),
                logger: Logger(label: "test"))
        }
    }

    func serveAndStop(redis: ServiceProcess, database: String) async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("serve") + ".log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve"]
        var environment = ProcessInfo.processInfo.environment
        environment["GATEWAY_HTTP_HOST"] = "127.0.0.1"
        environment["GATEWAY_HTTP_PORT"] = "0"
        environment["GATEWAY_ADMIN_PORT"] = "0"
        environment["GATEWAY_REDIS_URL"] = "redis://127.0.0.1:\(redis.port)/0"
        environment["GATEWAY_REDIS_TIMEOUT_MS"] = "3000"
        environment["GATEWAY_CACHE_PREFIX"] = TestEnvironment.uniqueName("shutdown")
        let url = try TestEnvironment.postgresURL
        environment["GATEWAY_POSTGRES_URL"] = url[..<(url.lastIndex(of: "/") ?? url.endIndex)] + "/" + database
        environment["GATEWAY_MONGO_DATABASE"] = database
        let migrate = Process()
        migrate.executableURL = URL(fileURLWithPath: Self.binary)
        migrate.arguments = ["migrate"]
        migrate.environment = environment
        migrate.standardOutput = FileHandle.nullDevice
        migrate.standardError = FileHandle.nullDevice
        try migrate.run()
        migrate.waitUntilExit()
        try #require(migrate.terminationStatus == 0, "gateway migrate failed")
        process.environment = environment
        process.standardError = output
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var text = ""
        for _ in 0..<100 where !text.contains("Server started") {
            try await Task.sleep(for: .milliseconds(100))
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        }
        let port = try #require(
            text.firstMatch(
                of: /storefront listening.*address=127\.0\.0\.1:(\d+)|address=127\.0\.0\.1:(\d+).*storefront listening/
            )
            .flatMap { Int($0.1 ?? $0.2 ?? "") }, "\(text.suffix(2000))")

        redis.suspend()
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: try TestEnvironment.executable(named: "curl"))
        curl.arguments = [
            "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", "http://127.0.0.1:\(port)/v1/products/1",
        ]
        let curlOutput = Pipe()
        curl.standardOutput = curlOutput
        try curl.run()
        try await Task.sleep(for: .milliseconds(500))
        #expect(curl.isRunning, "the request should still be waiting for Redis")
        kill(process.processIdentifier, SIGTERM)
        var refused = false
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(50))
            if !TestEnvironment.isListening(port) {
                refused = true
                break
            }
        }
        #expect(refused, "a new connection was accepted after SIGTERM")
        #expect(curl.isRunning, "the request in flight finished before Redis could answer")
        curl.waitUntilExit()
        let status = String(decoding: curlOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(["200", "404"].contains(status), "the request in flight got '\(status)' (000: no answer)")
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(text.contains("storefront stopped"), "\(text.suffix(2000))")
    }
}
