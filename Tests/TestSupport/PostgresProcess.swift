import Foundation

/// A private PostgreSQL cluster a test creates, starts and stops, to take the database away from
/// a running gateway without touching the shared server. Run as the `postgres` user when the tests
/// run as root (PostgreSQL refuses root), directly otherwise.
public final class PostgresProcess: @unchecked Sendable {
    public let port: Int
    public let directory: String
    private let binaries: String

    public init() throws {
        binaries = try TestEnvironment.required("GATEWAY_PG_BIN")
        port = try TestEnvironment.freePort()
        directory = "/var/tmp/" + TestEnvironment.uniqueName("pg")
    }

    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    /// Creates the cluster (first call) and starts the server; returns once it accepts connections.
    public func start() async throws {
        if !FileManager.default.fileExists(atPath: directory + "/PG_VERSION") {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if getuid() == 0 { try await Self.shell("chown postgres \(directory)") }
            try await asOwner("\(binaries)/initdb -D \(directory) -A trust -U postgres --no-sync >/dev/null")
        }
        try await asOwner(
            "\(binaries)/pg_ctl -D \(directory) -l \(directory)/server.log -w -t 60 -o "
                + "'-p \(port) -c listen_addresses=127.0.0.1 -k \(directory) -c fsync=off' start >/dev/null")
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): every connection drops.
    public func stop() async {
        try? await asOwner("\(binaries)/pg_ctl -D \(directory) -m immediate -w stop >/dev/null 2>&1")
    }

    /// Stops the server and removes the cluster.
    public func remove() async {
        await stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func asOwner(_ command: String) async throws {
        let owned =
            getuid() == 0
            ? "su postgres -s /bin/sh -c \"\(command.replacingOccurrences(of: "\"", with: "\\\""))\"" : command
        try await Self.shell(owned)
    }

    /// Runs a shell command to completion on a thread of its own. Not Foundation's `Process`: it
    /// notices an exit through a descriptor the child holds, and `pg_ctl start` leaves a server
    /// running that inherits it, so the exit would never be noticed.
    static func shell(_ command: String) async throws {
        let status: Int32 = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: system("exec </dev/null >/dev/null 2>&1; " + command))
            }
        }
        guard status == 0 else {
            throw TestEnvironment.MissingService(name: "'\(command)' (status \(status))")
        }
    }
}
