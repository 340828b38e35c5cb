import CMongoC

/// An error reported by libmongoc, copied out of its `bson_error_t`.
public struct MongoError: Error, Sendable, CustomStringConvertible {
    public let domain: UInt32
    public let code: UInt32
    public let message: String

    init(_ error: bson_error_t) {
        var error = error
        domain = error.domain
        code = error.code
        message = withUnsafeBytes(of: &error.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    init(message: String) {
        domain = 0
        code = 0
        self.message = message
    }

    /// A unique index refused the write (MongoDB's E11000).
    public var isDuplicateKey: Bool { code == 11000 }

    /// The server could not be reached or selected: retrying later may succeed.
    public var isUnavailable: Bool {
        domain == MONGOC_ERROR_SERVER_SELECTION.rawValue || domain == MONGOC_ERROR_STREAM.rawValue
            || domain == MONGOC_ERROR_CLIENT.rawValue
    }

    public var description: String { "\(message) (domain \(domain), code \(code))" }

    /// The hybrid model's view of this error.
    var hybridError: HybridError {
        isUnavailable ? .mongoUnavailable(message) : .mongoFailed(message)
    }
}
