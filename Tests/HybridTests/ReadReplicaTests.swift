@testable import Hybrid
import Logging
import PostgresNIO
import TestSupport
import Testing

/// Storefront loads on the streaming replica `scripts/services` runs: used once it has replayed
/// every acknowledged write, never for an answer older than the primary's. Serialized: the test
/// pauses the replica's replay, which every database on it shares.
@Suite(.serialized) struct ReadReplicaTests {
    static let logger: Logger = {
        var logger = Logger(label: "replica-test")
        logger.logLevel = .error
        return logger
    }()

    /// Polls `condition` every 50 ms for up to `seconds`.
    func eventually(_ seconds: Double = 15, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    @Test func aPausedReplicaNeverAnswersOlderThanTheLastWrite() async throws {
        try await TestCatalog.with { test in
            try await test.seed(CatalogGenerator(categories: 1, perCategory: 5))
            let server = try PostgresServer(url: try TestEnvironment.postgresReplicaURL)
            let replica = ReadReplica(
                client: PostgresClient(
                    configuration: server.configuration(database: test.database), backgroundLogger: Self.logger),
                maximumLag: .milliseconds(400), checkInterval: .milliseconds(100), logger: Self.logger)
            let reads = HybridCatalog(
                postgres: test.catalog.postgres, mongo: test.catalog.mongo, logger: Self.logger, readReplica: replica)
            let loader = ProductLoader(catalog: reads)
            let id = try #require(try await test.catalog.postgresFirstProductID())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await replica.run() }
                defer { group.cancelAll() }
                defer { Task { try? await replica.client.query("SELECT pg_wal_replay_resume()", logger: Self.logger) } }

                // Caught up: loads run on the replica.
                let caughtUp = try await eventually {
                    let before = replica.loads(.replica)
                    _ = try await loader.product(id: id)
                    return replica.loads(.replica) > before
                }
                #expect(caughtUp, "no load ran on the replica")

                // Replay paused, then a write on the primary: the replica still has the old row, and
                // no load may answer from it.
                _ = try await replica.client.query("SELECT pg_wal_replay_pause()", logger: Self.logger)
                let written = try await test.writer().update(
                    id: id, changes: ProductChanges(name: "Written after the pause"))
                let version = try #require(written.row?.version)
                let behind = replica.loads(.behind)
                // The row (PostgreSQL's part) is the one just written, not the replica's older one.
                #expect(try await loader.product(id: id).row.version == version)
                #expect(replica.loads(.behind) > behind, "the fence did not send the load to the primary")
                // The WAL received but not replayed makes the lag grow past its bound: the monitor
                // stops trying the replica at all (a replay timestamp alone would grow on an idle
                // primary too; this one grows because there is WAL waiting).
                #expect(try await eventually(5) { !replica.isUsable }, "a paused replica stayed in use")
                let lagging = replica.loads(.lagging)
                #expect(try await loader.product(id: id).row.version == version)
                #expect(replica.loads(.lagging) > lagging)

                // Resumed: the replica catches up and answers again, with the new row.
                _ = try await replica.client.query("SELECT pg_wal_replay_resume()", logger: Self.logger)
                let back = try await eventually {
                    let before = replica.loads(.replica)
                    let product = try await loader.product(id: id)
                    return replica.loads(.replica) > before && product.row.version == version
                }
                #expect(back, "the replica did not come back into use")
            }
        }
    }
}

/// A replica of another history (another cluster, or a standby left behind by a failover to
/// another one) is never used, whatever its replay position.
@Suite struct ReadReplicaHistoryTests {
    @Test func aFenceOfAnotherSystemOrTimelineIsNeverMet() async throws {
        try await TestCatalog.with { test in
            let server = try PostgresServer(url: try TestEnvironment.postgresReplicaURL)
            let replica = ReadReplica(
                client: PostgresClient(
                    configuration: server.configuration(database: "postgres"), backgroundLogger: ReadReplicaTests.logger
                ),
                fenceWait: .milliseconds(1), logger: ReadReplicaTests.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await replica.run() }
                defer { group.cancelAll() }
                var fence = try #require(try await test.catalog.primaryFence())
                fence.position = "0/0"  // long replayed
                #expect(await replica.rows("SELECT 1", fence: fence)?.count == 1)
                var otherSystem = fence
                otherSystem.system = "1"
                #expect(await replica.rows("SELECT 1", fence: otherSystem) == nil)
                var otherTimeline = fence
                otherTimeline.timeline = "00000002"
                #expect(await replica.rows("SELECT 1", fence: otherTimeline) == nil)
            }
        }
    }
}

extension HybridCatalog {
    /// The id of some product (the first by id).
    func postgresFirstProductID() async throws -> Int64? {
        let rows = try await postgres.query("SELECT min(id) FROM products", logger: ReadReplicaTests.logger)
        for try await (id) in rows.decode(Int64?.self) { return id }
        return nil
    }
}

/// What can be tested of a MongoDB replica set on a single-node server: the URI options the
/// deployment uses (write concern `majority`, a read preference) are taken by libmongoc and the
/// server, and a write with them is applied and read back. Elections and failovers are
/// libmongoc's, and need a real replica set (see deploy/).
@Suite struct MongoURIOptionsTests {
    @Test func writesAndReadsWorkWithMajorityWriteConcernAndAReadPreference() async throws {
        let base = try TestEnvironment.mongoURL
        let url = base + (base.contains("?") ? "&" : "?") + "w=majority&wtimeoutMS=5000&readPreference=primaryPreferred"
        try await TestCatalog.with(mongoURL: url) { test in
            try await test.seed(CatalogGenerator(categories: 1, perCategory: 3))
            let id = try #require(try await test.catalog.postgresFirstProductID())
            let result = try await test.writer().update(id: id, changes: ProductChanges(name: "Majority"))
            #expect(result.state == .applied)
            #expect(try await ProductLoader(catalog: test.catalog).product(id: id).document.name == "Majority")
        }
    }
}
