import CMongoC
import Logging
import Synchronization

/// Initialises libmongoc once per process and routes its log through swift-log.
enum MongoLogBridge {
    // libmongoc's log handler is a C function pointer with no context worth using: the logger it
    // forwards to is process-wide by necessity.
    private static let logger = Mutex<Logger?>(nil)
    private static let initialised: Void = {
        mongoc_init()
        mongoc_log_set_handler(
            { level, domain, message, _ in
                guard let message else { return }
                let text = String(cString: message)
                let domainText = domain.map { String(cString: $0) } ?? "mongoc"
                MongoLogBridge.logger.withLock { logger in
                    guard let logger else { return }
                    switch level {
                    case MONGOC_LOG_LEVEL_ERROR, MONGOC_LOG_LEVEL_CRITICAL:
                        logger.error("\(text)", metadata: ["mongoc.domain": "\(domainText)"])
                    case MONGOC_LOG_LEVEL_WARNING:
                        logger.warning("\(text)", metadata: ["mongoc.domain": "\(domainText)"])
                    default:
                        break
                    }
                }
            }, nil)
    }()

    static func install(logger: Logger) {
        _ = initialised
        Self.logger.withLock { current in
            if current == nil { current = logger }
        }
    }
}
