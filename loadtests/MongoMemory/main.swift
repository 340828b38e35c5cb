import Foundation
import Hybrid
import Logging

// Reads documents through the MongoDB wrapper in a loop and watches resident memory: every
// bson_t, cursor and pooled client must be freed, so after a warm-up RSS stays flat.
// Usage: MongoMemory MONGO_URL DATABASE [reads]   (the database must hold products 1…20)

func residentKilobytes() -> Int {
    let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
    return (Int(text.split(separator: " ")[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: MongoMemory mongodb://… database [reads]\n".utf8))
    exit(2)
}
let reads = arguments.count > 3 ? Int(arguments[3]) ?? 10_000 : 10_000
var logger = Logger(label: "mongo-memory")
logger.logLevel = .warning
let pool = try MongoConnectionPool(
    uri: arguments[1], databaseName: arguments[2], size: 4, stats: BackendStats(), logger: logger)
let collection = MongoProductCollection(pool: pool)

// Warm up: pooled clients, thread stacks, allocator arenas.
for _ in 0..<1000 { _ = try await collection.documents(ids: Array(1...20)) }
let start = residentKilobytes()
print("reads, find_one + $in alternating; resident memory (KB)")
print("0\t\(start)")
var documents = 0
for round in 1...reads {
    if round % 2 == 0 {
        documents += try await collection.documents(ids: Array(1...20)).count
    } else {
        documents += try await collection.document(id: Int64(round % 20 + 1)) == nil ? 0 : 1
    }
    if round % (reads / 5) == 0 { print("\(round)\t\(residentKilobytes())") }
}
let growth = residentKilobytes() - start
print("documents read: \(documents); growth after warm-up: \(growth) KB")
try await pool.shutdown()
if documents == 0 {
    print("no documents found: seed the database first")
    exit(1)
}
exit(growth > 2048 ? 1 : 0)
