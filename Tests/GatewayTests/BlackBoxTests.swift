import Foundation
import Hybrid
import TestSupport
import Testing

/// The fuzz battery's kinds of input, sent over the wire to the running `gateway serve` binary:
/// raw HTTP/1.1 to both ports and scripted HTTP/2 frames to the storefront. After every batch the
/// process must still be running and answering; no answer may be a 5xx (the backends are up).
@Suite(.serialized) struct BlackBoxTests {
    struct Tally {
        var sent = 0
        var answered = 0
        var statuses: [Int: Int] = [:]
    }

    /// Sends `bytes` on a fresh connection; the answer's status, if one came within the wait.
    static func exchange(_ port: Int, _ bytes: [UInt8], wait: Duration = .milliseconds(1500)) async -> Int? {
        guard let socket = try? RawSocket(port: port) else { return nil }
        try? socket.send(bytes)
        let received = await socket.receive(for: wait) { String(decoding: $0, as: UTF8.self).contains("\r\n\r\n") }
        let text = String(decoding: received.bytes.prefix(64), as: UTF8.self)
        guard text.hasPrefix("HTTP/1."), text.count >= 12 else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }

    static func alive(_ binary: ServedBinary, sourceLocation: SourceLocation = #_sourceLocation) async -> Bool {
        guard binary.isRunning else { return false }
        let storefront = await exchange(binary.port, Array("GET /v1/categories HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let admin = await exchange(binary.adminPort, Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        return storefront == 200 && admin == 200
    }

    /// Raw HTTP/1.1 requests, well- and ill-formed.
    static func http1Requests(_ rng: inout SplitMix64, count: Int, admin: Bool) -> [[UInt8]] {
        var requests: [[UInt8]] = []
        let paths =
            admin
            ? [
                "/admin/v1/products", "/admin/v1/products/1", "/admin/v1/categories", "/admin/v1/categories/1",
                "/admin/v1/warmup", "/hooks/v1/invalidate", "/admin/v1/outbox/dead-letters", "/readyz", "/metrics",
            ]
            : ["/v1/categories", "/v1/categories/1/products", "/v1/products/1", "/v1/products"]
        let methods = [
            "GET", "HEAD", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "TRACE", "CONNECT", "get", "G E T", "\u{0}",
        ]
        for _ in 0..<count {
            let method = methods.randomElement(using: &rng) ?? "GET"
            var path = paths.randomElement(using: &rng) ?? "/"
            let hostile = Hostile.string(&rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: path += "/" + hostile
            case 1:
                path += "?page=\(hostile)&per_page=\(Hostile.string(&rng))&sort=\(Hostile.string(&rng))&ids=\(hostile)"
            case 2: path = hostile
            default: break
            }
            var head = "\(method) \(path) HTTP/1.1\r\n"
            if Int.random(in: 0..<8, using: &rng) != 0 {
                head += "Host: \(Int.random(in: 0..<4, using: &rng) == 0 ? hostile : "x")\r\n"
            }
            if Int.random(in: 0..<10, using: &rng) == 0 { head += "Host: y\r\n" }
            for name in [
                "If-None-Match", "If-Match", "Accept-Encoding", "X-Request-Id", "X-Timestamp", "X-Signature",
                "Content-Type",
            ]
            where Int.random(in: 0..<3, using: &rng) == 0 {
                head += "\(name): \(Hostile.string(&rng).prefix(2000))\r\n"
            }
            if admin { head += "Authorization: Bearer \(ServedBinary.adminToken)\r\n" }
            var body = ""
            if admin && Bool.random(using: &rng) {
                body = HostileJSON.object(
                    &rng,
                    keys: [
                        "id", "sku", "category_id", "name", "price", "currency", "attributes", "images", "rate",
                        "pages", "products", "categories", "all", "mode", "slug",
                    ])
                head += "Content-Type: application/json\r\n"
            }
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: head += "Content-Length: \(Hostile.string(&rng).prefix(40))\r\n"
            case 1: head += "Transfer-Encoding: chunked\r\n\r\n\(Hostile.string(&rng).prefix(20))\r\nxyz\r\n0\r\n\r\n"
            case 2: head += "Content-Length: -1\r\n"
            case 3: head += "Content-Length: 99999999999999999999\r\n"
            default: head += "Content-Length: \(body.utf8.count)\r\n"
            }
            if !head.hasSuffix("\r\n\r\n\r\n") && !head.contains("chunked") { head += "\r\n" + body }
            var bytes = Array(head.utf8)
            switch Int.random(in: 0..<15, using: &rng) {
            case 0: bytes = Array(bytes.prefix(bytes.count / 2))  // half-sent
            case 1: bytes += [0xED, 0xA0, 0x80, 0xFF, 0x00]  // a lone surrogate's bytes, invalid UTF-8, NUL
            case 2:
                bytes = (0..<Int.random(in: 1...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default: break
            }
            requests.append(bytes)
        }
        return requests
    }

    /// HTTP/2 connections that break the protocol in one way each.
    static func h2Sequences(_ rng: inout SplitMix64, count: Int) -> [[UInt8]] {
        var sequences: [[UInt8]] = []
        let start = H2.preface + H2.settings()
        for _ in 0..<count {
            let path = Hostile.string(&rng)
            var bytes = start
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: bytes += H2.frame(.headers, flags: H2.endStream | H2.endHeaders, stream: 1, payload: H2.get(path))
            case 1:
                bytes += H2.frame(
                    .headers, flags: H2.endStream | H2.endHeaders, stream: 1,
                    payload: H2.block([(":method", "GET"), (":path", "/v1/categories"), ("Upper-Case", "x")]))
            case 2: bytes += H2.frame(.headers, flags: H2.endHeaders, stream: 2, payload: H2.get("/v1/categories"))
            case 3: bytes += H2.frame(.data, flags: H2.endStream, stream: 1, payload: Array("body".utf8))
            case 4: bytes += H2.frame(.windowUpdate, stream: 0, payload: [0, 0, 0, 0])
            case 5: bytes += H2.frame(.priority, stream: 1, payload: [0, 0, 0, 1, 16])
            case 6: bytes += H2.settings([(0x2, 2), (0x4, 0x8000_0000), (0x5, 1)])
            case 7: bytes += H2.frame(.ping, stream: 0, payload: [1, 2, 3])
            case 8: bytes += H2.frame(.goAway, stream: 0, payload: [0, 0, 0, 0, 0, 0, 0, 0])
            case 9:
                bytes += (0..<Int.random(in: 1...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 10:
                bytes += H2.frame(
                    .headers, flags: H2.endStream | H2.endHeaders, stream: 1,
                    payload: H2.get(
                        "/v1/products/1",
                        extra: [("if-none-match", Hostile.string(&rng)), ("accept-encoding", Hostile.string(&rng))]))
            default:
                bytes += H2.frame(
                    .headers, flags: H2.endStream | H2.endHeaders, stream: 1, payload: [0xFF, 0xFF, 0xFF])
            }
            sequences.append(bytes)
        }
        return sequences
    }

    @Test func theRunningBinarySurvivesEveryKindOfInput() async throws {
        let binary = try ServedBinary()
        try await binary.start()
        do {
            try await hammer(binary)
        } catch {
            await binary.stop()
            throw error
        }
        await binary.stop()
    }

    func hammer(_ binary: ServedBinary) async throws {
        try #require(await Self.alive(binary))
        var tally = Tally()
        var rng = SplitMix64(seed: 20_261_126)
        for batch in 0..<8 {
            var exchanges: [(port: Int, bytes: [UInt8])] = []
            exchanges += Self.http1Requests(&rng, count: 40, admin: false).map { (binary.port, $0) }
            exchanges += Self.http1Requests(&rng, count: 40, admin: true).map { (binary.adminPort, $0) }
            exchanges += Self.h2Sequences(&rng, count: 25).map { (binary.port, $0) }
            for (port, bytes) in exchanges {
                tally.sent += 1
                if let status = await Self.exchange(port, bytes, wait: .milliseconds(800)) {
                    tally.answered += 1
                    tally.statuses[status, default: 0] += 1
                    #expect(status < 500, "a \(status) for \(String(decoding: bytes.prefix(200), as: UTF8.self))")
                }
            }
            let alive = await Self.alive(binary)
            #expect(alive, "the gateway stopped answering after batch \(batch)")
            if !alive {
                let log = (try? String(contentsOf: binary.log, encoding: .utf8)) ?? ""
                Issue.record("log tail: \(log.suffix(3000))")
                return
            }
        }
        #expect(tally.answered > tally.sent / 3)
        let summary = tally.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        print("black-box: \(tally.sent) inputs sent, \(tally.answered) answered (\(summary))")
    }
}
