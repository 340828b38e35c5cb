import NIOCore

/// The protocol side of one Redis connection, free of I/O: which pending command a reply belongs
/// to (replies come back in the order commands were sent), and what a timeout or a close does.
///
/// `Pending` is whatever the handler keeps per command (its promise); tests use plain values.
struct RedisConnectionStateMachine<Pending> {
    enum State {
        case active
        case closed(RedisError)
    }

    private(set) var state: State = .active
    private var pending = CircularBuffer<(pending: Pending, command: String, deadline: NIODeadline)>()

    enum SendAction {
        /// Write the command; `armTimer` is set when it is now the oldest pending command.
        case write(armTimer: NIODeadline?)
        /// The connection is closed: fail this command at once.
        case fail(RedisError)
    }

    enum ReplyAction {
        /// Complete this command with the reply; re-arm the timer for the next oldest, if any.
        case complete(Pending, RESPValue, nextDeadline: NIODeadline?)
        /// A reply no command waits for: close the connection.
        case unexpected
    }

    var pendingCount: Int { pending.count }
    var oldestDeadline: NIODeadline? { pending.first?.deadline }

    mutating func send(_ item: Pending, command: String, deadline: NIODeadline) -> SendAction {
        switch state {
        case .closed(let error):
            return .fail(error)
        case .active:
            let wasEmpty = pending.isEmpty
            pending.append((item, command, deadline))
            return .write(armTimer: wasEmpty ? deadline : nil)
        }
    }

    mutating func receive(_ reply: RESPValue) -> ReplyAction {
        guard case .active = state, let first = pending.popFirst() else { return .unexpected }
        return .complete(first.pending, reply, nextDeadline: pending.first?.deadline)
    }

    /// The timer fired at `now`. Past the oldest command's deadline every pending command fails and
    /// the connection must close: later replies could no longer be matched to their commands.
    mutating func timerFired(now: NIODeadline) -> (failed: [Pending], error: RedisError)? {
        guard case .active = state, let first = pending.first else { return nil }
        guard first.deadline <= now else { return nil }
        let error = RedisError.timeout(command: first.command)
        return (close(error), error)
    }

    /// The connection closed or failed: every pending command fails with `error`.
    mutating func close(_ error: RedisError) -> [Pending] {
        if case .closed = state { return [] }
        state = .closed(error)
        var failed: [Pending] = []
        failed.reserveCapacity(pending.count)
        while let item = pending.popFirst() { failed.append(item.pending) }
        return failed
    }
}
