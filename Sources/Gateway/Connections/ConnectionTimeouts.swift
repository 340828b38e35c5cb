import NIOCore

/// When a connection has waited too long, as a pure state machine (the handler arms its timer).
///
/// - idle (between requests, or before the first): closed after `idleTimeout` (60 s);
/// - reading (the first byte of a request has arrived, the request is not complete): closed after
///   `readTimeout` (10 s) counted from that first byte, however slowly the rest trickles in;
/// - responding (a request is complete, its answer not yet sent): no timer here; the answer has
///   deadlines of its own.
struct ConnectionTimeouts: Sendable {
    enum State: Equatable, Sendable {
        case idle
        case reading
        /// `requests` complete and unanswered; `bytesSince`: bytes of a next request arrived.
        case responding(requests: Int, bytesSince: Bool)
        /// HTTP/2: the protocol's own management (idle GOAWAY, pings, stream limits) took over.
        case handedOver
    }

    enum Action: Equatable, Sendable {
        case arm(TimeAmount)
        case disarm
        case close
        case none
    }

    let readTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private(set) var state: State = .idle

    init(readTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.readTimeout = readTimeout
        self.idleTimeout = idleTimeout
    }

    /// The connection became active: it is idle until its first byte.
    func started() -> Action { .arm(idleTimeout) }

    mutating func bytesReceived() -> Action {
        switch state {
        case .idle:
            state = .reading
            return .arm(readTimeout)
        case .responding(let requests, _):
            state = .responding(requests: requests, bytesSince: true)
            return .none
        case .reading, .handedOver:
            return .none
        }
    }

    mutating func requestReceived() -> Action {
        switch state {
        case .idle, .reading:
            state = .responding(requests: 1, bytesSince: false)
            return .disarm
        case .responding(let requests, _):
            state = .responding(requests: requests + 1, bytesSince: false)
            return .none
        case .handedOver:
            return .none
        }
    }

    mutating func responseSent() -> Action {
        guard case .responding(let requests, let bytesSince) = state else { return .none }
        if requests > 1 {
            state = .responding(requests: requests - 1, bytesSince: bytesSince)
            return .none
        }
        if bytesSince {
            state = .reading
            return .arm(readTimeout)
        }
        state = .idle
        return .arm(idleTimeout)
    }

    mutating func handOver() -> Action {
        state = .handedOver
        return .disarm
    }

    func timerFired() -> Action {
        switch state {
        case .idle, .reading: .close
        case .responding, .handedOver: .none
        }
    }
}
