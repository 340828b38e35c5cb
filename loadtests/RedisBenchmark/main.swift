import CacheLayer
import Foundation
import Logging
import NIOCore
import NIOPosix

// GET of one value from many concurrent tasks through the gateway's Redis client, for comparison
// with `redis-benchmark -t get` against the same server (loadtests/redis-client runs both).
// Usage: RedisBenchmark URL [requests] [concurrency] [value-bytes]

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(
        Data("usage: RedisBenchmark redis://host:port [requests] [concurrency] [bytes]\n".utf8))
    exit(2)
}
let requests = arguments.count > 2 ? Int(arguments[2]) ?? 100_000 : 100_000
let concurrency = arguments.count > 3 ? Int(arguments[3]) ?? 50 : 50
let bytes = arguments.count > 4 ? Int(arguments[4]) ?? 16384 : 16384

var logger = Logger(label: "redis-benchmark")
logger.logLevel = .warning
let configuration = try RedisConfiguration(url: arguments[1])
let client = RedisClient(configuration: configuration, logger: logger)
let key = "bench:value:\(bytes)"
try await client.set(key, ByteBuffer(repeating: UInt8(ascii: "x"), count: bytes))

// Warm up every connection.
for _ in 0..<1000 { _ = try await client.get(key) }

let perTask = requests / concurrency
let started = ContinuousClock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for _ in 0..<concurrency {
        group.addTask {
            for _ in 0..<perTask {
                guard let value = try await client.get(key), value.readableBytes == bytes else {
                    throw RedisError.protocolViolation("wrong value")
                }
            }
        }
    }
    try await group.waitForAll()
}
let elapsed = ContinuousClock.now - started
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let done = perTask * concurrency
print(
    String(
        format: "gateway client: %d GETs of %d bytes, %d concurrent tasks: %.0f requests/s", done, bytes, concurrency,
        Double(done) / seconds))
await client.close()
