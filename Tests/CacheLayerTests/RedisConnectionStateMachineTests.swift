import NIOCore
import Testing

@testable import CacheLayer

@Suite struct RedisConnectionStateMachineTests {
    @Test func repliesCompleteCommandsInTheOrderSent() {
        var machine = RedisConnectionStateMachine<Int>()
        let start = NIODeadline.now()
        guard case .write(let armFirst) = machine.send(1, command: "GET", deadline: start + .seconds(1)) else {
            Issue.record("expected a write")
            return
        }
        #expect(armFirst == start + .seconds(1))
        guard case .write(let armSecond) = machine.send(2, command: "SET", deadline: start + .seconds(2)) else {
            Issue.record("expected a write")
            return
        }
        #expect(armSecond == nil)  // the timer already watches the oldest command
        guard case .complete(let first, _, let next) = machine.receive(.integer(10)) else {
            Issue.record("expected a completion")
            return
        }
        #expect(first == 1)
        #expect(next == start + .seconds(2))
        guard case .complete(let second, _, let none) = machine.receive(.integer(20)) else {
            Issue.record("expected a completion")
            return
        }
        #expect(second == 2)
        #expect(none == nil)
        guard case .unexpected = machine.receive(.integer(30)) else {
            Issue.record("a reply with nothing pending must be refused")
            return
        }
    }

    @Test func aTimeoutFailsEveryPendingCommandAndClosesTheConnection() {
        var machine = RedisConnectionStateMachine<Int>()
        let start = NIODeadline.now()
        for id in 1...3 { _ = machine.send(id, command: "GET", deadline: start + .milliseconds(Int64(100 * id))) }
        #expect(machine.timerFired(now: start + .milliseconds(50)) == nil)  // not due yet
        let fired = machine.timerFired(now: start + .milliseconds(150))
        #expect(fired?.failed == [1, 2, 3])
        #expect(fired?.error == .timeout(command: "GET"))
        guard case .fail(.timeout) = machine.send(4, command: "PING", deadline: start + .seconds(1)) else {
            Issue.record("a closed connection must refuse new commands")
            return
        }
    }

    @Test func closingFailsPendingCommandsOnce() {
        var machine = RedisConnectionStateMachine<Int>()
        _ = machine.send(1, command: "GET", deadline: .now() + .seconds(1))
        #expect(machine.close(.connectionClosed("bye")) == [1])
        #expect(machine.close(.connectionClosed("again")).isEmpty)
    }
}
