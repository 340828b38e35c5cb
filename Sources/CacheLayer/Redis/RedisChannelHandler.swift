import NIOCore

/// A command on its way to Redis and the promise its reply completes.
struct RedisRequest {
    let command: RESPCommand
    let promise: EventLoopPromise<RESPValue>
}

/// Pipelines commands on one connection: writes each at once, keeps the promises in a FIFO, and
/// completes them as replies arrive (parsed by hiredis). A command timeout fails every pending
/// command and closes the connection.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private var machine = RedisConnectionStateMachine<EventLoopPromise<RESPValue>>()
    private let parser = RESPParser()
    private let commandTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(commandTimeout: TimeAmount) {
        self.commandTimeout = commandTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(.connectionClosed("the handler was removed"))
        self.context = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        switch machine.send(
            request.promise, command: request.command.name, deadline: context.eventLoop.now + commandTimeout)
        {
        case .fail(let error):
            request.promise.fail(error)
            promise?.fail(error)
        case .write(let armTimer):
            if let armTimer { arm(at: armTimer, context: context) }
            context.write(wrapOutboundOut(request.command.bytes), promise: promise)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let replies: [RESPValue]
        do {
            replies = try parser.feed(unwrapInboundIn(data))
        } catch let error as RedisError {
            failAll(error)
            context.close(promise: nil)
            return
        } catch {
            failAll(.protocolViolation("\(error)"))
            context.close(promise: nil)
            return
        }
        for reply in replies {
            switch machine.receive(reply) {
            case .complete(let promise, let value, let next):
                if let next { arm(at: next, context: context) } else { disarm() }
                if case .error(let message) = value {
                    promise.fail(RedisError.server(message))
                } else {
                    promise.succeed(value)
                }
            case .unexpected:
                failAll(.protocolViolation("a reply arrived with no command pending"))
                context.close(promise: nil)
                return
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionClosed("closed by the peer or the network"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.connectionClosed("\(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        disarm()
        for promise in machine.close(error) { promise.fail(error) }
    }

    private func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard let (failed, error) = machine.timerFired(now: context.eventLoop.now) else {
                if let next = machine.oldestDeadline, let context = self.context { arm(at: next, context: context) }
                return
            }
            timer = nil
            for promise in failed { promise.fail(error) }
            self.context?.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
