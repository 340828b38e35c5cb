import Foundation
import Gateway
import Hybrid
import TestSupport
import Testing

@Suite struct TLSTests {
    /// A self-signed certificate for 127.0.0.1, made with the openssl command line.
    static func makeCertificate() async throws -> (certificate: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("tls"))
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.executable(named: "openssl"))
        process.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ]
        process.standardError = FileHandle.nullDevice
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        try #require(process.terminationStatus == 0)
        return (certificate, key)
    }

    @Test func tlsNegotiatesH2AndHTTP1WithTheSameBodiesAsH2c() async throws {
        let (certificate, key) = try await Self.makeCertificate()
        let environment = ["GATEWAY_TLS_CERT": certificate, "GATEWAY_TLS_KEY": key, "GATEWAY_TLS_PORT": "0"]
        try await TestGateway.with(seed: CatalogGenerator(categories: 2, perCategory: 10), environment: environment) {
            gateway in
            for path in ["/v1/categories", "/v1/categories/1/products?sort=price_asc", "/v1/products?ids=1,2,3"] {
                let plain = try await gateway.get(path, over: .h2c)
                let h2 = try await gateway.getSecure(path, over: .h2)
                let http1 = try await gateway.getSecure(path, over: .http1)
                #expect(h2.version == "HTTP/2")
                #expect(http1.version == "HTTP/1.1")
                #expect(h2.status == 200)
                #expect(h2.body == plain.body, "\(path)")
                #expect(http1.body == plain.body, "\(path)")
            }
        }
    }

    /// Runs `openssl s_client` against the TLS port with `arguments`; its output and exit status.
    static func handshake(port: Int, _ arguments: [String]) async throws -> (output: String, status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.executable(named: "openssl"))
        process.arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-brief"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (text, process.terminationStatus)
    }

    /// RFC 8996: TLS 1.0 and 1.1 are refused by the server (the client is told to allow them, so
    /// the refusal is the server's); TLS 1.3 and 1.2 with ECDHE + AEAD work; 1.2 without ECDHE
    /// does not.
    @Test func onlyTLS12AndLaterWithModernSuitesAreAccepted() async throws {
        let (certificate, key) = try await Self.makeCertificate()
        let environment = ["GATEWAY_TLS_CERT": certificate, "GATEWAY_TLS_KEY": key, "GATEWAY_TLS_PORT": "0"]
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3), environment: environment) {
            gateway in
            let port = try #require(gateway.tlsPort)
            for version in ["-tls1", "-tls1_1"] {
                let old = try await Self.handshake(port: port, [version, "-cipher", "DEFAULT@SECLEVEL=0"])
                #expect(old.status != 0, "\(version) was accepted: \(old.output)")
                #expect(old.output.contains("alert protocol version"), "\(version): \(old.output)")
            }
            let modern = try await Self.handshake(port: port, ["-tls1_3"])
            #expect(modern.status == 0, "\(modern.output)")
            #expect(modern.output.contains("TLSv1.3"), "\(modern.output)")
            let twelve = try await Self.handshake(port: port, ["-tls1_2"])
            #expect(twelve.status == 0, "\(twelve.output)")
            #expect(twelve.output.contains("ECDHE"), "\(twelve.output)")
            let staticRSA = try await Self.handshake(
                port: port, ["-tls1_2", "-cipher", "AES128-SHA:AES256-GCM-SHA384"])
            #expect(staticRSA.status != 0, "a suite without ECDHE or AEAD was accepted: \(staticRSA.output)")
        }
    }

    @Test func aMissingKeyIsAConfigurationErrorNamingTheSetting() throws {
        #expect(throws: ConfigurationError.self) {
            try GatewayConfiguration(environment: ["GATEWAY_TLS_CERT": "/nonexistent/cert.pem"])
        }
        do {
            _ = try GatewayConfiguration(environment: ["GATEWAY_TLS_CERT": "/x.pem", "GATEWAY_TLS_KEY": "/y.pem"])
            Issue.record("unreadable files must be refused")
        } catch let error as ConfigurationError {
            #expect(error.setting == "GATEWAY_TLS_CERT")
            #expect(error.description.contains("/x.pem"))
        }
    }
}
