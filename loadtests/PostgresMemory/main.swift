import CMallocStats
import Foundation
import Logging
import NIOPosix
import PostgresNIO

// Runs queries through postgres-nio's PostgresClient and watches two figures: resident memory
// (what the kernel sees) and the bytes malloc has handed out and not yet had back (`mallinfo2`'s
// uordblks). A leak grows both; allocator growth (arenas, fragmentation) grows only the first.
//
// Usage: PostgresMemory POSTGRES_URL [queries] [mode]
//   mode: unprepared (default) | prepared | lease (withConnection around each query)
//         | connection (one leased connection for every query of a worker)
// Set MALLOC_ARENA_MAX=2 in the environment to see what glibc's per-thread arenas contribute;
// KEEP_ALIVE_S (0 = none; postgres-nio's default 30) and IDLE_TIMEOUT_S (default 60) change the
// pool's timers; MIN_CONNECTIONS (default 0) keeps that many connections out of the idle timer.

struct Memory {
    static func residentKilobytes() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
        let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
    }

    static func allocatedKilobytes() -> Int {
        Int(malloc_stats_in_use()) / 1024
    }
}

struct ProductPage: PostgresPreparedStatement {
    static let sql = "SELECT id, sku, version FROM products WHERE category_id = $1 ORDER BY id LIMIT 20"
    typealias Row = (Int64, String, Int64)
    var category: Int64
    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(category)
        return bindings
    }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let url = URL(string: arguments[1]), let host = url.host else {
    FileHandle.standardError.write(Data("usage: PostgresMemory postgres://user@host:port/db [queries] [mode]\n".utf8))
    exit(2)
}
let queries = arguments.count > 2 ? max(1000, Int(arguments[2]) ?? 200_000) : 200_000
let mode = arguments.count > 3 ? arguments[3] : "unprepared"
guard ["unprepared", "prepared", "lease", "connection"].contains(mode) else {
    FileHandle.standardError.write(Data("mode must be unprepared, prepared, lease or connection\n".utf8))
    exit(2)
}
var configuration = PostgresClient.Configuration(
    host: host, port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
    database: url.path.isEmpty ? nil : String(url.path.dropFirst()), tls: .disable)
configuration.options.maximumConnections = 4
let environment = ProcessInfo.processInfo.environment
if let text = environment["KEEP_ALIVE_S"], let seconds = Int(text) {
    configuration.options.keepAliveBehavior = seconds > 0 ? .init(frequency: .seconds(seconds)) : nil
}
if let text = environment["IDLE_TIMEOUT_S"], let seconds = Int(text), seconds > 0 {
    configuration.options.connectionIdleTimeout = .seconds(seconds)
}
if let text = environment["MIN_CONNECTIONS"], let count = Int(text), (0..<4).contains(count) {
    configuration.options.minimumConnections = count
}
var logger = Logger(label: "postgres-memory")
logger.logLevel = .warning
let client = PostgresClient(configuration: configuration, backgroundLogger: logger)

func query(_ round: Int) async throws -> Int {
    let category = Int64(round % 5 + 1)
    var rows = 0
    switch mode {
    case "lease":
        rows = try await client.withConnection { connection in try await connectionQuery(connection, round) }
    case "prepared":
        for try await _ in try await client.execute(ProductPage(category: category), logger: logger) { rows += 1 }
    default:
        for try await _ in try await client.query(
            "SELECT id, sku, version FROM products WHERE category_id = \(category) ORDER BY id LIMIT 20", logger: logger)
        {
            rows += 1
        }
    }
    return rows
}

func connectionQuery(_ connection: PostgresConnection, _ round: Int) async throws -> Int {
    let category = Int64(round % 5 + 1)
    var rows = 0
    for try await _ in try await connection.query(
        "SELECT id, sku, version FROM products WHERE category_id = \(category) ORDER BY id LIMIT 20", logger: logger)
    {
        rows += 1
    }
    return rows
}

let outcome: Int32 = await withTaskGroup(of: Int32?.self) { group in
    group.addTask {
        await client.run()
        return nil
    }
    defer { group.cancelAll() }
    do {
        let concurrency = 4
        let step = queries / 10
        print(
            "mode \(mode), \(queries) queries, \(concurrency) at a time; keep-alive \(configuration.options.keepAliveBehavior.map { "\($0.frequency)" } ?? "off"), idle timeout \(configuration.options.connectionIdleTimeout), minimum connections \(configuration.options.minimumConnections)"
        )
        let started = ContinuousClock.now
        print("queries\tresident KB\tmalloc in use KB\telapsed")
        // Warm up: connections, thread stacks, allocator arenas.
        try await run(count: 5000, concurrency: concurrency)
        print("0\t\(Memory.residentKilobytes())\t\(Memory.allocatedKilobytes())")
        let residentStart = Memory.residentKilobytes()
        let allocatedStart = Memory.allocatedKilobytes()
        var rows = 0
        for round in 1...10 {
            rows += try await run(count: step, concurrency: concurrency)
            print(
                "\(round * step)\t\(Memory.residentKilobytes())\t\(Memory.allocatedKilobytes())\t\(started.duration(to: .now).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))"
            )
        }
        let resident = Memory.residentKilobytes() - residentStart
        let allocated = Memory.allocatedKilobytes() - allocatedStart
        let perQuery = Double(resident * 1024) / Double(step * 10)
        print(
            "rows \(rows); growth after warm-up: resident \(resident) KB (\(String(format: "%.1f", perQuery)) B/query), malloc in use \(allocated) KB"
        )
        return rows == 0 ? 1 : 0
    } catch {
        print("failed: \(String(reflecting: error))")
        return 1
    }

    func run(count: Int, concurrency: Int) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { workers in
            for worker in 0..<concurrency {
                workers.addTask {
                    var rows = 0
                    if mode == "connection" {
                        try await client.withConnection { connection in
                            for round in stride(from: worker, to: count, by: concurrency) {
                                rows += try await connectionQuery(connection, round)
                            }
                        }
                    } else {
                        for round in stride(from: worker, to: count, by: concurrency) { rows += try await query(round) }
                    }
                    return rows
                }
            }
            return try await workers.reduce(0, +)
        }
    }
}
exit(outcome)
