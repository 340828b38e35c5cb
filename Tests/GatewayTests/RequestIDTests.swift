import Foundation
import Hybrid
import NIOCore
import NIOHPACK
import TestSupport
import Testing

@testable import Gateway

@Suite struct RequestIDTests {
    /// 200,000 handlers (HTTP/2 streams): a random 32-bit prefix per handler would repeat one with
    /// a probability of about 99% (birthday bound); the process-wide counter never does.
    @Test func handlerPrefixesNeverRepeat() {
        var seen = Set<String>()
        for _ in 0..<200_000 { seen.insert(RequestIDs.nextHandlerPrefix()) }
        #expect(seen.count == 200_000)
        #expect(seen.allSatisfy { $0.hasPrefix(RequestIDs.process + "-") })
    }

    /// Every response carries its own id: across the streams of one HTTP/2 connection, across
    /// connections and across HTTP/1.1 requests on one keep-alive connection.
    @Test func idsAreUniqueAcrossStreamsAndConnections() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            var ids: [String] = []
            // Two h2c connections of 40 concurrent streams each (curl 7.88 cannot reuse an h2c
            // connection, so the frames are sent by hand).
            for _ in 0..<2 { ids += try await Self.h2RequestIDs(port: gateway.port, streams: 40) }
            let urls = (0..<40).map { "http://127.0.0.1:\(gateway.port)/v1/products/\($0 % 3 + 1)" }
            ids += try await Self.requestIDs(version: "--http1.1", urls: urls)
            #expect(ids.count == 120)
            #expect(Set(ids).count == ids.count, "repeated ids: \(ids)")
            // A client's own id is kept (logs can be joined).
            let kept = try await gateway.get("/v1/products/1", headers: ["x-request-id": "client-chosen-42"])
            #expect(kept.header("x-request-id") == "client-chosen-42")
        }
    }

    /// The ids of `streams` requests sent at once on one h2c connection.
    static func h2RequestIDs(port: Int, streams: Int) async throws -> [String] {
        let socket = try await ConnectionTests.h2c(port)
        var bytes: [UInt8] = []
        for index in 0..<streams {
            bytes += H2.frame(
                .headers, flags: H2.endHeaders | H2.endStream, stream: UInt32(2 * index + 1),
                payload: H2.get("/v1/products/\(index % 3 + 1)"))
        }
        try socket.send(bytes)
        let answers = await ConnectionTests.frames(from: socket) { frames in
            frames.filter { $0.kind == .headers }.count >= streams
        }
        // One decoder for the connection, in order: HPACK's dynamic table spans the frames.
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: 4096)
        var ids: [String] = []
        for frame in answers.frames where frame.kind == .headers {
            var buffer = ByteBuffer(bytes: frame.payload)
            if let id = try decoder.decodeHeaders(from: &buffer).first(name: "x-request-id") { ids.append(id) }
        }
        return ids
    }

    /// One curl process: one connection, the URLs as consecutive requests.
    static func requestIDs(version: String, urls: [String]) async throws -> [String] {
        let heads = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("heads")
        ).path
        defer { try? FileManager.default.removeItem(atPath: heads) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.executable(named: "curl"))
        process.arguments =
            ["-s", "-S", "--max-time", "20", version, "-D", heads] + urls.flatMap { ["-o", "/dev/null", $0] }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        #expect(process.terminationStatus == 0)
        let text = try String(contentsOfFile: heads, encoding: .utf8)
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "x-request-id" else { return nil }
            return parts[1].trimmingCharacters(in: .whitespaces)
        }
    }
}
