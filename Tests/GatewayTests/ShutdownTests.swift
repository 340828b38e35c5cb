import Foundation
import TestSupport
import Testing

/// The `gateway serve` binary, as an operator runs it.
@Suite struct ShutdownTests {
    static var binary: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent(".build/debug/gateway").path
    }

    @Test func sigtermStopsAcceptingFinishesAndExitsCleanly() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary), "build the gateway first (scripts/test does)")
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
        environment["GATEWAY_CACHE_PREFIX"] = TestEnvironment.uniqueName("shutdown")
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
        #expect(text.contains("storefront listening"))
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(text.contains("storefront stopped"), "\(text.suffix(2000))")
    }
}
