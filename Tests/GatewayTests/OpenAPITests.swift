import Foundation
import Gateway
import Hybrid
import TestSupport
import Testing

/// Keeps `/openapi.json` true: every route the servers have is documented with its methods, and
/// every documented operation exists.
@Suite struct OpenAPITests {
    static let storefrontPaths = [
        "/v1/categories", "/v1/categories/{id}/products", "/v1/products/{id}", "/v1/products",
    ]

    @Test func documentsExactlyTheRoutesTheServersHave() async throws {
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let response = try await gateway.admin("GET", "/openapi.json", token: nil)
            #expect(response.status == 200)
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
            #expect(document["openapi"] as? String == "3.1.0")
            let paths = try #require(document["paths"] as? [String: [String: Any]])

            var served: [String: Set<String>] = [:]
            for route in AdminServer.routes {
                let path = "/" + route.pattern.map { $0 == "*" ? "{id}" : String($0) }.joined(separator: "/")
                served[path] = Set(route.methods.map { $0.rawValue.lowercased() }).subtracting(["head"])
            }
            for path in Self.storefrontPaths { served[path] = ["get"] }
            let documented = paths.mapValues { Set($0.keys.filter { $0 != "parameters" }) }
            #expect(documented == served)

            // Every documented operation answers on its port (not a router-level 404 or 405).
            for (path, methods) in documented {
                let concrete = path.replacingOccurrences(of: "{id}", with: "1")
                for method in methods {
                    let answer: TestGateway.Response
                    if Self.storefrontPaths.contains(path) {
                        answer = try await gateway.get(concrete + (path == "/v1/products" ? "?ids=1" : ""))
                    } else {
                        answer = try await gateway.admin(
                            method.uppercased(), concrete, json: method == "get" || method == "delete" ? nil : "{}")
                    }
                    #expect(answer.status != 405, "\(method) \(path)")
                    #expect(
                        !(answer.body.contains("no storefront resource")
                            || answer.body.contains("\"detail\":\"Not Found\"")), "\(method) \(path): \(answer.body)")
                }
            }
        }
    }

    /// Client generators refuse an invalid document: the served one passes openapi-spec-validator.
    @Test func theDocumentValidates() async throws {
        let validator = try TestEnvironment.venvTool(named: "openapi-spec-validator")
        try await TestGateway.with(seed: CatalogGenerator(categories: 1, perCategory: 3)) { gateway in
            let document = try await gateway.admin("GET", "/openapi.json", token: nil)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                TestEnvironment.uniqueName("openapi") + ".json"
            ).path
            try document.body.write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: validator)
            process.arguments = [path]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                process.terminationHandler = { _ in continuation.resume() }
                do { try process.run() } catch { continuation.resume(throwing: error) }
            }
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0, "\(text.suffix(3000))")
            #expect(text.contains("OK"))
        }
    }
}
