import CMongoC
import Logging
import NIOPosix

/// A `mongoc_client_pool_t` and the threads that use it.
///
/// libmongoc blocks, so every call runs on this pool's own `NIOThreadPool`, never on an event
/// loop or the cooperative pool. There are as many threads as pooled clients, so a thread never
/// waits for a client another thread holds. A client is popped, used and pushed back inside one
/// closure on one thread; neither it nor its cursors ever cross threads.
public final class MongoConnectionPool: @unchecked Sendable {
    // Safe to share: mongoc_client_pool_t is thread-safe, and nothing else here is mutable.
    private let pool: OpaquePointer
    private let threadPool: NIOThreadPool
    public let databaseName: String
    public let stats: BackendStats

    /// Connects lazily: creating the pool parses the URI but opens no socket.
    ///
    /// - Parameters:
    ///   - uri: a MongoDB connection string; timeouts not given in it default to 3 s for server
    ///     selection and 10 s for a socket, so a stopped server fails calls instead of hanging.
    ///   - databaseName: the database holding the `products` collection.
    ///   - size: pooled clients and threads.
    ///   - stats: counts every round trip.
    public init(uri: String, databaseName: String, size: Int = 8, stats: BackendStats, logger: Logger) throws {
        MongoLogBridge.install(logger: logger)
        var error = cmongoc_error_make()
        guard let parsed = mongoc_uri_new_with_error(uri, &error) else {
            throw HybridError.invalidInput(
                "the MongoDB URL '\(Self.masked(uri))' is invalid: \(MongoError(error).message)")
        }
        defer { mongoc_uri_destroy(parsed) }
        for (option, value) in [
            ("serverselectiontimeoutms", 3000), ("sockettimeoutms", 10_000), ("connecttimeoutms", 2000),
        ]
        where !mongoc_uri_has_option(parsed, option) {
            mongoc_uri_set_option_as_int32(parsed, option, Int32(value))
        }
        guard let pool = mongoc_client_pool_new(parsed) else {
            throw HybridError.invalidInput("libmongoc could not create a client pool for '\(Self.masked(uri))'")
        }
        mongoc_client_pool_set_error_api(pool, 2)
        mongoc_client_pool_max_size(pool, UInt32(size))
        mongoc_client_pool_set_appname(pool, "catalog-gateway")
        self.pool = pool
        self.databaseName = databaseName
        self.stats = stats
        self.threadPool = NIOThreadPool(numberOfThreads: size)
        self.threadPool.start()
    }

    /// Runs `body` with a pooled client on one of the pool's threads.
    func withClient<Result: Sendable>(
        _ body: @escaping @Sendable (OpaquePointer) throws -> Result
    ) async throws -> Result {
        stats.recordMongoOperation()
        nonisolated(unsafe) let pool = self.pool
        let started = ContinuousClock.now
        defer { stats.mongoTimer.recordNanoseconds((ContinuousClock.now - started).nanoseconds) }
        do {
            return try await threadPool.runIfActive {
                let client = mongoc_client_pool_pop(pool)!
                defer { mongoc_client_pool_push(pool, client) }
                return try body(client)
            }
        } catch {
            stats.mongoErrors.increment()
            throw error
        }
    }

    /// Runs `body` with the `products` collection (or another) of the configured database.
    func withCollection<Result: Sendable>(
        _ name: String = "products",
        _ body: @escaping @Sendable (OpaquePointer) throws -> Result
    ) async throws -> Result {
        let databaseName = self.databaseName
        return try await withClient { client in
            let collection = mongoc_client_get_collection(client, databaseName, name)!
            defer { mongoc_collection_destroy(collection) }
            return try body(collection)
        }
    }

    /// Runs a database command and returns its reply.
    func command(_ command: BSONDocument) async throws -> [String: JSONValue] {
        let databaseName = self.databaseName
        nonisolated(unsafe) let command = command
        return try await withClient { client in
            try withReply { reply, error in
                mongoc_client_command_simple(client, databaseName, command.pointer, nil, reply, error)
            }
        }
    }

    /// Stops the threads, then frees the pool.
    public func shutdown() async throws {
        try await threadPool.shutdownGracefully()
        mongoc_client_pool_destroy(pool)
    }

    deinit {
        // The pool is freed by shutdown(); a pool never shut down is leaked rather than freed
        // under threads that may still use it.
    }
}

/// Calls a libmongoc function that fills a reply document and an error, and returns the reply's
/// fields or throws the error. The reply is destroyed before returning.
func withReply(
    _ call: (OpaquePointer, UnsafeMutablePointer<bson_error_t>) -> Bool
) throws -> [String: JSONValue] {
    let reply = cmongoc_reply_new()!
    defer { cmongoc_reply_free(reply) }
    var error = cmongoc_error_make()
    let ok = call(reply, &error)
    guard ok else { throw MongoError(error) }
    return BSONDocument.fields(of: reply)
}

extension MongoConnectionPool {
    /// A connection string with its password masked, for errors and logs.
    static func masked(_ uri: String) -> String {
        guard let at = uri.lastIndex(of: "@"), let scheme = uri.range(of: "://"), scheme.upperBound < at else {
            return uri
        }
        let credentials = uri[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return uri }
        return String(uri[..<credentials.index(after: colon)]) + "****" + String(uri[at...])
    }
}
