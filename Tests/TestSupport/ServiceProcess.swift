import Foundation

/// A real server process a test starts and stops itself, to take a backend away mid-test without
/// disturbing the shared services other tests use.
public final class ServiceProcess: @unchecked Sendable {
    public let name: String
    public let port: Int
    private let executable: String
    private let arguments: [String]
    private var process: Process?

    public init(name: String, port: Int, executable: String, arguments: [String]) {
        self.name = name
        self.port = port
        self.executable = executable
        self.arguments = arguments
    }

    /// A private SecantusDB keeping its data in `storage`, so a restart finds it again.
    public static func secantus(storage: String) throws -> ServiceProcess {
        let port = try TestEnvironment.freePort()
        return ServiceProcess(
            name: "secantusdb", port: port, executable: try TestEnvironment.secantusPython,
            arguments: [
                "-m", "secantus", "--host", "127.0.0.1", "--port", "\(port)", "--storage-path", storage,
                "--log-level", "WARNING",
            ])
    }

    /// A private redis-server: it keeps nothing on disk, or, given `persistentIn`, an append-only
    /// file there, so a restart finds every key again (as a production Redis would).
    public static func redis(persistentIn directory: String? = nil) throws -> ServiceProcess {
        let port = try TestEnvironment.freePort()
        var arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", ""]
        if let directory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            arguments += ["--appendonly", "yes", "--appendfsync", "always", "--dir", directory]
        } else {
            arguments += ["--appendonly", "no"]
        }
        return ServiceProcess(
            name: "redis-server", port: port, executable: try TestEnvironment.executable(named: "redis-server"),
            arguments: arguments)
    }

    /// Starts the process and waits until its port accepts connections.
    public func start(timeout: Duration = .seconds(60)) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if TestEnvironment.isListening(port) { return }
            guard process.isRunning else {
                throw StartFailure(name: name, reason: "exited with \(process.terminationStatus)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw StartFailure(name: name, reason: "did not listen on port \(port) within \(timeout)")
    }

    /// Stops the process (SIGTERM, then SIGKILL) and waits until it is gone.
    public func stop() async {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGCONT)
        process.terminate()
        for _ in 0..<50 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    /// Kills the process at once (SIGKILL): no shutdown, no goodbye to its peers, as a crash or a
    /// lost machine.
    public func killAbruptly() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// Freezes the process (SIGSTOP): its connections stay open and nothing answers, like a hung
    /// server or a half-open connection.
    public func suspend() {
        if let process, process.isRunning { kill(process.processIdentifier, SIGSTOP) }
    }

    /// Lets a suspended process run again (SIGCONT).
    public func resume() {
        if let process, process.isRunning { kill(process.processIdentifier, SIGCONT) }
    }

    public struct StartFailure: Error, CustomStringConvertible {
        let name: String
        let reason: String
        public init(name: String, reason: String) {
            self.name = name
            self.reason = reason
        }
        public var description: String { "\(name) \(reason)" }
    }
}
