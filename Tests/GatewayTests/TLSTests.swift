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
