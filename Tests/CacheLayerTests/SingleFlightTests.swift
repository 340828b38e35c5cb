import CacheLayer
import NIOCore
import NIOPosix
import Testing

@Suite struct SingleFlightTests {
    let eventLoop = MultiThreadedEventLoopGroup.singleton.next()

    @Test func callersOfOneKeyShareOneRun() async throws {
        let flights = SingleFlight<String, Int>()
        let calls = CallCounter()
        let release = Latch()
        let futures = (0..<50).map { _ in
            flights.run("k", on: eventLoop) {
                calls.increment()
                await release.wait()
                return 7
            }
        }
        #expect(flights.count == 1)
        await release.open()
        for future in futures { #expect(try await future.get() == 7) }
        #expect(calls.count == 1)
    }

    @Test func aFinishedFlightIsGoneBeforeItsResultIsDelivered() async throws {
        let flights = SingleFlight<String, Int>()
        let countWhenDelivered = try await flights.run("k", on: eventLoop) { 1 }.map { _ in flights.count }.get()
        #expect(countWhenDelivered == 0)
        // So a caller after it runs again rather than joining a finished flight.
        let calls = CallCounter()
        _ = try await flights.run("k", on: eventLoop) { calls.increment() }.get()
        #expect(calls.count == 1)
    }

    @Test func aFailureReachesEveryCallerAndIsNotRemembered() async throws {
        struct Failure: Error {}
        let flights = SingleFlight<String, Int>()
        let release = Latch()
        let first = flights.run("k", on: eventLoop) {
            await release.wait()
            throw Failure()
        }
        let second = flights.run("k", on: eventLoop) { 2 }
        await release.open()
        await #expect(throws: Failure.self) { try await first.get() }
        await #expect(throws: Failure.self) { try await second.get() }
        #expect(try await flights.run("k", on: eventLoop) { 3 }.get() == 3)
    }

    /// 100,000 distinct keys: the map holds at most `capacity` at once and nothing after.
    @Test func theMapStaysWithinItsCapacity() async throws {
        let flights = SingleFlight<Int, Int>(capacity: 1000)
        let release = Latch()
        var held: [EventLoopFuture<Int>] = []
        for key in 0..<2000 {
            held.append(
                flights.run(key, on: eventLoop) {
                    await release.wait()
                    return key
                })
        }
        #expect(flights.count == 1000)
        await release.open()
        for (key, future) in held.enumerated() { #expect(try await future.get() == key) }
        #expect(flights.count == 0)
        for start in stride(from: 0, to: 100_000, by: 10_000) {
            let batch = (start..<start + 10_000).map { key in flights.run(key, on: eventLoop) { key } }
            #expect(flights.count <= 1000)
            for future in batch { _ = try await future.get() }
        }
        #expect(flights.count == 0)
    }
}
