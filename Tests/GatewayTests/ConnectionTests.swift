import Foundation
import Gateway
import Hybrid
import NIOCore
import NIOHPACK
import TestSupport
import Testing

/// Connections on both ports, as slow, idle, numerous or oversized clients make them.
@Suite struct ConnectionTests {
    static let fastTimeouts = [
        "GATEWAY_READ_TIMEOUT_MS": "1000", "GATEWAY_IDLE_TIMEOUT_MS": "1500",
    ]

    static func elapsed(since start: ContinuousClock.Instant) -> Duration { ContinuousClock.now - start }

    @Test func aHalfSentRequestHeadIsClosedAfterTheReadTimeoutHoweverSlowlyItTrickles() async throws {
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 1, perCategory: 3), environment: Self.fastTimeouts
        ) {
            gateway in
            for port in [gateway.port, gateway.adminPort] {
                let socket = try RawSocket(port: port)
                let started = ContinuousClock.now
                try socket.send("GET /v1/categories HTTP/1.1\r\nHost: x\r\n")
                var closed = false
                // One more header line every 300 ms: bytes keep coming, the request never completes.
                for index in 0..<30 where !closed {
                    closed = await socket.receive(for: .milliseconds(300)).closed
                    if !closed { try? socket.send("X-Slow-\(index): y\r\n") }
                }
                #expect(closed, "port \(port) kept a half-sent request open")
                let took = Self.elapsed(since: started)
                #expect(took >= .milliseconds(900) && took < .seconds(10), "port \(port): closed after \(took)")
            }
            #expect(try await gateway.get("/v1/categories").status == 200)
        }
    }

    @Test func anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 1, perCategory: 3), environment: Self.fastTimeouts
        ) {
            gateway in
            for (port, path) in [(gateway.port, "/v1/categories"), (gateway.adminPort, "/healthz")] {
                let socket = try RawSocket(port: port)
                try socket.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                let answer = await socket.receive(for: .seconds(5)) {
                    String(decoding: $0, as: UTF8.self).contains("\r\n\r\n")
                }
                #expect(String(decoding: answer.bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
                let idleSince = ContinuousClock.now
                let wait = await socket.receive(for: .seconds(5))
                #expect(wait.closed, "port \(port) kept an idle connection")
                let took = Self.elapsed(since: idleSince)
                #expect(took >= .milliseconds(1200) && took < .seconds(10), "port \(port): idle close after \(took)")
            }
        }
    }

    @Test func connectionsPastTheLimitAreRefusedAtOnceAndCounted() async throws {
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 1, perCategory: 3), environment: ["GATEWAY_MAX_CONNECTIONS": "4"]
        ) { gateway in
            for port in [gateway.port, gateway.adminPort] {
                var open: [RawSocket] = []
                for _ in 0..<4 { open.append(try RawSocket(port: port)) }
                try await Task.sleep(for: .milliseconds(200))
                let extra = try RawSocket(port: port)
                #expect(await extra.receive(for: .seconds(2)).closed, "port \(port) accepted a fifth connection")
                // The admitted ones still work.
                try open[0].send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                let answer = await open[0].receive(for: .seconds(5)) { !$0.isEmpty }
                #expect(!answer.bytes.isEmpty && !answer.closed)
                open.removeAll()
            }
            try await Task.sleep(for: .milliseconds(300))  // the closed ones are released
            let metrics = try await gateway.admin("GET", "/metrics", token: nil).body
            #expect(metrics.contains(#"connections_refused_total{listener="storefront"} 1"#), "\(metrics.prefix(0))")
            #expect(metrics.contains(#"connections_refused_total{listener="admin"} 1"#))
        }
    }

    @Test func oversizedHTTP1HeadersAre431AtOnce() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            for size in [20 * 1024, 100 * 1024] {
                let started = ContinuousClock.now
                let answer = try await gateway.get(
                    "/v1/categories", headers: ["X-Big": String(repeating: "a", count: size)])
                #expect(answer.status == 431, "\(size) bytes: \(answer.status)")
                // At once: long before the 10 s read timeout (curl's own start-up is in the figure).
                #expect(Self.elapsed(since: started) < .seconds(5))
            }
            #expect(try await gateway.get("/v1/categories").status == 200)
        }
    }

    // MARK: - HTTP/2, frame by frame

    /// An h2c connection after the handshake (preface, SETTINGS both ways, ACK).
    static func h2c(_ port: Int, settings: [(UInt16, UInt32)] = []) async throws -> RawSocket {
        let socket = try RawSocket(port: port)
        try socket.send(H2.preface + H2.settings(settings))
        _ = await socket.receive(for: .seconds(2)) { H2.frames(in: $0).contains { $0.kind == .settings } }
        try socket.send(H2.frame(.settings, flags: H2.ack, stream: 0))
        return socket
    }

    /// Frames received until `done` holds or the connection closes.
    static func frames(
        from socket: RawSocket, for timeout: Duration = .seconds(5),
        until done: @escaping @Sendable ([H2.Frame]) -> Bool
    ) async -> (frames: [H2.Frame], closed: Bool) {
        let received = await socket.receive(for: timeout) { done(H2.frames(in: $0)) }
        return (H2.frames(in: received.bytes), received.closed)
    }

    static func status(of headers: H2.Frame) throws -> String? {
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: Int(UInt32.max))
        var buffer = ByteBuffer(bytes: headers.payload)
        return try decoder.decodeHeaders(from: &buffer).first(name: ":status")
    }

    @Test func h2OversizedHeadersAre431OnTheStreamOrEndTheConnectionAtOnce() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            // 20 KiB: over the 16 KiB limit, within what HPACK decodes: a 431 answer on the stream.
            let socket = try await Self.h2c(gateway.port)
            let block = H2.get("/v1/categories", extra: [("x-big", String(repeating: "a", count: 20 * 1024))])
            var bytes = H2.frame(.headers, flags: H2.endStream, stream: 1, payload: Array(block.prefix(16000)))
            bytes += H2.frame(.continuation, flags: H2.endHeaders, stream: 1, payload: Array(block.dropFirst(16000)))
            try socket.send(bytes)
            let answer = await Self.frames(from: socket) { $0.contains { $0.kind == .headers && $0.stream == 1 } }
            let headers = try #require(answer.frames.first { $0.kind == .headers && $0.stream == 1 })
            #expect(try Self.status(of: headers) == "431")
            // 100 KiB: past what is decoded at all; GOAWAY, then the connection closes (no hang).
            let second = try await Self.h2c(gateway.port)
            let huge = H2.get("/v1/categories", extra: [("x-big", String(repeating: "a", count: 100 * 1024))])
            var frames = H2.frame(.headers, flags: H2.endStream, stream: 1, payload: Array(huge.prefix(16000)))
            var rest = Array(huge.dropFirst(16000))
            while !rest.isEmpty {
                let piece = Array(rest.prefix(16000))
                rest.removeFirst(piece.count)
                frames += H2.frame(.continuation, flags: rest.isEmpty ? H2.endHeaders : 0, stream: 1, payload: piece)
            }
            try? second.send(frames)
            let started = ContinuousClock.now
            let ended = await Self.frames(from: second) { _ in false }
            #expect(ended.closed, "the connection was left open")
            #expect(Self.elapsed(since: started) < .seconds(3))
            #expect(ended.frames.contains { $0.kind == .goAway })
        }
    }

    @Test func h2RapidResetEndsTheConnection() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let socket = try await Self.h2c(gateway.port)
            var bytes: [UInt8] = []
            for index in 0..<1000 {
                let stream = UInt32(2 * index + 1)
                bytes += H2.frame(.headers, flags: H2.endHeaders, stream: stream, payload: H2.get("/v1/categories"))
                bytes += H2.frame(.rstStream, stream: stream, payload: [0, 0, 0, 8])  // CANCEL
            }
            try? socket.send(bytes)
            let outcome = await Self.frames(from: socket) { _ in false }
            let goAway = outcome.frames.first { $0.kind == .goAway }
            #expect(goAway?.errorCode == 11, "expected GOAWAY ENHANCE_YOUR_CALM, got \(outcome.frames.suffix(3))")
            #expect(outcome.closed)
            #expect(try await gateway.get("/v1/categories", over: .h2c).status == 200)
        }
    }

    @Test func h2ContinuationFloodEndsTheConnection() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let socket = try await Self.h2c(gateway.port)
            var bytes = H2.frame(.headers, flags: H2.endStream, stream: 1, payload: H2.get("/v1/categories"))
            for index in 0..<200 {
                bytes += H2.frame(.continuation, stream: 1, payload: H2.block([("x-\(index)", "y")]))
            }
            try? socket.send(bytes)
            let outcome = await Self.frames(from: socket) { _ in false }
            #expect(outcome.frames.contains { $0.kind == .goAway })
            #expect(outcome.closed)
            #expect(!outcome.frames.contains { $0.kind == .headers }, "a flooded header block was answered")
        }
    }

    @Test func h2HPACKTableSizeBombsAreRefused() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            // A header block that raises the dynamic table far past the 4 KiB the server allows.
            let socket = try await Self.h2c(gateway.port)
            let bomb = H2.integer(1 << 30, prefix: 5, first: 0x20) + H2.get("/v1/categories")
            try? socket.send(H2.frame(.headers, flags: H2.endStream | H2.endHeaders, stream: 1, payload: bomb))
            let outcome = await Self.frames(from: socket) { _ in false }
            #expect(outcome.frames.first { $0.kind == .goAway }?.errorCode == 9, "expected COMPRESSION_ERROR")
            #expect(outcome.closed)
            // A client announcing a 4 GiB table for the server's encoder: answered as usual, and
            // what the server adds to that table is bounded: only fields with a handful of values
            // per process (content type, cache control, Vary, Cache-Status) are indexed, once
            // each; request ids, ETags, lengths and surrogate keys never are (they would otherwise
            // be kept for the connection's whole life).
            let greedy = try await Self.h2c(gateway.port, settings: [(0x1, 0xFFFF_FFFF)])
            var requests: [UInt8] = []
            for index in 0..<20 {
                requests += H2.frame(
                    .headers, flags: H2.endStream | H2.endHeaders, stream: UInt32(2 * index + 1),
                    payload: H2.get("/v1/products/\(index % 3 + 1)"))
            }
            try greedy.send(requests)
            let answer = await Self.frames(from: greedy) { $0.filter { $0.kind == .headers }.count >= 20 }
            let blocks = answer.frames.filter { $0.kind == .headers }
            #expect(blocks.count == 20)
            #expect(try Self.status(of: try #require(blocks.first)) == "200")
            let indexed = blocks.map { Self.representations($0.payload).filter { $0 == "incremental" }.count }
            #expect(indexed.reduce(0, +) <= 12, "response headers indexed per block: \(indexed)")
            // Once the three products are near-cache hits, every answer's fields are in the table
            // or literals: nothing more is added, however many answers follow.
            #expect(indexed.suffix(10).allSatisfy { $0 == 0 }, "response headers indexed per block: \(indexed)")
            // The per-answer fields are literals that are never indexed: decoded in order with the
            // connection's table, every id differs.
            var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: Int(UInt32.max))
            var ids = Set<String>()
            for block in blocks {
                var buffer = ByteBuffer(bytes: block.payload)
                let headers = try decoder.decodeHeaders(from: &buffer)
                ids.insert(try #require(headers.first(name: "x-request-id")))
            }
            #expect(ids.count == 20)
        }
    }

    /// The kinds of the HPACK representations in a header block (RFC 7541 §6), walked by their
    /// explicit lengths (no Huffman decoding needed).
    static func representations(_ block: [UInt8]) -> [String] {
        var kinds: [String] = []
        var index = 0
        func integer(prefix: Int) -> Int {
            let limit = (1 << prefix) - 1
            var value = Int(block[index]) & limit
            index += 1
            guard value == limit else { return value }
            var shift = 0
            while index < block.count {
                let byte = Int(block[index])
                index += 1
                value += (byte & 0x7F) << shift
                shift += 7
                if byte & 0x80 == 0 { break }
            }
            return value
        }
        func skipString() {
            let length = integer(prefix: 7)
            index += length
        }
        while index < block.count {
            let byte = block[index]
            if byte & 0x80 != 0 {
                kinds.append("indexed")
                _ = integer(prefix: 7)
            } else if byte & 0x40 != 0 {
                kinds.append("incremental")
                if integer(prefix: 6) == 0 { skipString() }
                skipString()
            } else if byte & 0x20 != 0 {
                kinds.append("size update")
                _ = integer(prefix: 5)
            } else {
                kinds.append(byte & 0x10 != 0 ? "never indexed" : "without indexing")
                if integer(prefix: 4) == 0 { skipString() }
                skipString()
            }
        }
        return kinds
    }

    /// Up to the advertised 100 concurrent streams are served; a client that opens more is ending
    /// its connection (swift-nio-http2 treats it as a connection error: GOAWAY, then close).
    @Test func h2StreamsPastTheConcurrentLimitEndTheConnection() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let socket = try await Self.h2c(gateway.port)
            var bytes: [UInt8] = []
            // Streams left open (no END_STREAM: a body would follow).
            for index in 0..<100 {
                bytes += H2.frame(
                    .headers, flags: H2.endHeaders, stream: UInt32(2 * index + 1), payload: H2.get("/v1/categories"))
            }
            try socket.send(bytes + H2.frame(.ping, stream: 0, payload: [1, 2, 3, 4, 5, 6, 7, 8]))
            let within = await Self.frames(from: socket) { $0.contains { $0.kind == .ping && $0.flags & H2.ack != 0 } }
            #expect(
                within.frames.contains { $0.kind == .ping && $0.flags & H2.ack != 0 }, "100 streams were not accepted")
            #expect(!within.frames.contains { $0.kind == .goAway })
            try? socket.send(H2.frame(.headers, flags: H2.endHeaders, stream: 201, payload: H2.get("/v1/categories")))
            let outcome = await Self.frames(from: socket) { _ in false }
            #expect(outcome.frames.contains { $0.kind == .goAway }, "\(outcome.frames.suffix(3))")
            #expect(outcome.closed)
            #expect(try await gateway.get("/v1/categories", over: .h2c).status == 200)
        }
    }

    @Test func anH2StreamThatNeverFinishesItsRequestIsResetAfterTheReadTimeout() async throws {
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 1, perCategory: 3), environment: Self.fastTimeouts
        ) {
            gateway in
            let socket = try await Self.h2c(gateway.port)
            try socket.send(H2.frame(.headers, flags: H2.endHeaders, stream: 1, payload: H2.get("/v1/categories")))
            let started = ContinuousClock.now
            let outcome = await Self.frames(from: socket) { $0.contains { $0.kind == .rstStream && $0.stream == 1 } }
            #expect(outcome.frames.contains { $0.kind == .rstStream && $0.stream == 1 })
            let took = Self.elapsed(since: started)
            #expect(took >= .milliseconds(900) && took < .seconds(10), "reset after \(took)")
        }
    }

    /// A header block that never ends (no END_HEADERS, then silence) holds no connection: the
    /// stream is reset or the connection told to go away, and it is closed soon after.
    @Test func anH2HeaderBlockThatNeverEndsDoesNotHoldTheConnection() async throws {
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 1, perCategory: 3), environment: Self.fastTimeouts
        ) {
            gateway in
            let socket = try await Self.h2c(gateway.port)
            try socket.send(H2.frame(.headers, flags: H2.endStream, stream: 1, payload: H2.get("/v1/categories")))
            let started = ContinuousClock.now
            let ended = await Self.frames(from: socket, for: .seconds(12)) { _ in false }
            #expect(ended.closed, "a connection stuck in a header block stayed open")
            #expect(Self.elapsed(since: started) < .seconds(12))
            #expect(ended.frames.contains { $0.kind == .goAway || $0.kind == .rstStream })
        }
    }

    /// A client that cancels a request whose answer is still being loaded (a miss) loses that
    /// answer only: the connection goes on answering its other streams.
    @Test func aStreamResetWhileItsAnswerLoadsLeavesTheConnectionServing() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 2, perCategory: 40)) { gateway in
            let socket = try await Self.h2c(gateway.port)
            var bytes: [UInt8] = []
            // Misses (nothing is cached yet), each reset at once, in the same write.
            for index in 0..<10 {
                let stream = UInt32(2 * index + 1)
                bytes += H2.frame(
                    .headers, flags: H2.endStream | H2.endHeaders, stream: stream,
                    payload: H2.get("/v1/categories/\(index % 2 + 1)/products?page=\(index + 1)&per_page=3"))
                bytes += H2.frame(.rstStream, stream: stream, payload: [0, 0, 0, 8])  // CANCEL
            }
            try socket.send(bytes)
            // Let the loads finish and their answers meet the closed streams.
            try await Task.sleep(for: .seconds(1))
            try socket.send(
                H2.frame(.headers, flags: H2.endStream | H2.endHeaders, stream: 41, payload: H2.get("/v1/categories")))
            let outcome = await Self.frames(from: socket) {
                $0.contains { $0.kind == .data && $0.stream == 41 && $0.flags & H2.endStream != 0 }
            }
            #expect(!outcome.closed, "the connection was closed")
            #expect(!outcome.frames.contains { $0.kind == .goAway }, "\(outcome.frames.suffix(3))")
            let answer = try #require(outcome.frames.first { $0.kind == .headers && $0.stream == 41 })
            #expect(try Self.status(of: answer) == "200")
        }
    }

    /// Request bodies are read and dropped, and their flow-control windows given back: bodies
    /// past the connection's initial 64 KiB window do not stall later requests.
    @Test func h2RequestBodiesPastTheInitialWindowDoNotStallTheConnection() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let socket = try await Self.h2c(gateway.port)
            for index in 0..<3 {
                let stream = UInt32(2 * index + 1)
                var bytes = H2.frame(.headers, flags: H2.endHeaders, stream: stream, payload: H2.get("/v1/categories"))
                for piece in 0..<4 {
                    bytes += H2.frame(
                        .data, flags: piece == 3 ? H2.endStream : 0, stream: stream,
                        payload: [UInt8](repeating: 0x61, count: 16_000))
                }
                try socket.send(bytes)
                let outcome = await Self.frames(from: socket) {
                    $0.contains { $0.kind == .headers && $0.stream == stream }
                }
                #expect(outcome.frames.contains { $0.kind == .headers && $0.stream == stream }, "request \(index)")
            }
        }
    }

    @Test func anIdleH2ConnectionGetsGOAWAYAndIsClosedAfterTheIdleTimeout() async throws {
        try await TestGateway.with(
            seed: CatalogGenerator(categories: 1, perCategory: 3), environment: Self.fastTimeouts
        ) {
            gateway in
            let socket = try await Self.h2c(gateway.port)
            try socket.send(
                H2.frame(.headers, flags: H2.endStream | H2.endHeaders, stream: 1, payload: H2.get("/v1/categories")))
            _ = await Self.frames(from: socket) { $0.contains { $0.kind == .data && $0.flags & H2.endStream != 0 } }
            let idleSince = ContinuousClock.now
            let announced = await Self.frames(from: socket, for: .seconds(5)) { $0.contains { $0.kind == .goAway } }
            #expect(announced.frames.contains { $0.kind == .goAway }, "no GOAWAY after the idle timeout")
            let took = Self.elapsed(since: idleSince)
            #expect(took < .seconds(5), "GOAWAY after \(took)")
            // A client that never answers the PING after the GOAWAY is closed 5 s later.
            let ended = await Self.frames(from: socket, for: .seconds(8)) { _ in false }
            #expect(ended.closed, "an idle HTTP/2 connection that ignores the GOAWAY's PING stayed open")
            #expect(Self.elapsed(since: idleSince) < .seconds(9))
        }
    }

    @Test func gracefulShutdownClosesIdleConnectionsAndSendsGOAWAY() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let http1 = try RawSocket(port: gateway.port)
            try http1.send("GET /v1/categories HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = await http1.receive(for: .seconds(5)) { String(decoding: $0, as: UTF8.self).contains("\r\n\r\n") }
            let h2 = try await Self.h2c(gateway.port)
            try h2.send(
                H2.frame(.headers, flags: H2.endStream | H2.endHeaders, stream: 1, payload: H2.get("/v1/categories")))
            _ = await Self.frames(from: h2) { $0.contains { $0.kind == .data && $0.flags & H2.endStream != 0 } }
            await gateway.stopGracefully()
            let started = ContinuousClock.now
            #expect(await http1.receive(for: .seconds(3)).closed, "an idle keep-alive connection stayed open")
            // The server announces GOAWAY and pings; a client answers the ping, gets the final
            // GOAWAY, and the connection closes.
            let first = await Self.frames(from: h2, for: .seconds(5)) { $0.contains { $0.kind == .ping } }
            #expect(first.frames.contains { $0.kind == .goAway }, "no GOAWAY on the HTTP/2 connection")
            if let ping = first.frames.first(where: { $0.kind == .ping }) {
                try? h2.send(H2.frame(.ping, flags: H2.ack, stream: 0, payload: ping.payload))
            }
            let ended = await Self.frames(from: h2, for: .seconds(5)) { _ in false }
            #expect(ended.closed)
            #expect(Self.elapsed(since: started) < .seconds(6))
            #expect(!TestEnvironment.isListening(gateway.port))
        }
    }
}
