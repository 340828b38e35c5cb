import Foundation
import TestSupport
import Testing

/// The files under deploy/ pass the validators a deployment pipeline would run, and say what the
/// docs promise (probes on the admin port, the admin port never exposed, migrations first).
@Suite struct DeployTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")

    static var manifests: [String] {
        get throws {
            let directory = deploy.appendingPathComponent("kubernetes")
            return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
                .sorted().map { directory.appendingPathComponent($0).path }
        }
    }

    /// Runs a tool; returns its exit status and what it printed.
    static func run(_ tool: String, _ arguments: [String]) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.currentDirectoryURL = deploy
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("deploy") + ".log")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    @Test func theDockerfilePassesHadolint() async throws {
        let hadolint = try TestEnvironment.venvTool(named: "hadolint")
        let (status, output) = try await Self.run(hadolint, ["--config", ".hadolint.yaml", "Dockerfile"])
        #expect(status == 0, "\(output)")
        let dockerfile = try String(contentsOf: Self.deploy.appendingPathComponent("Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains("USER 10001"))
        #expect(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/healthz"))
        #expect(dockerfile.contains(#"ENTRYPOINT ["/usr/local/bin/gateway"]"#))
    }

    @Test func theComposeFileMatchesTheComposeSpecification() async throws {
        let checker = try TestEnvironment.venvTool(named: "check-jsonschema")
        let (status, output) = try await Self.run(
            checker, ["--builtin-schema", "vendor.compose-spec", "compose.yaml"])
        #expect(status == 0, "\(output)")
        let compose = try String(contentsOf: Self.deploy.appendingPathComponent("compose.yaml"), encoding: .utf8)
        #expect(compose.contains("condition: service_completed_successfully"), "the gateways wait for migrate")
        #expect(compose.contains("volatile-lru"), "Redis must never evict tag generations")
        #expect(compose.contains("w=majority"))
    }

    @Test func theKubernetesManifestsValidate() async throws {
        let validator = try TestEnvironment.venvTool(named: "kubernetes-validate")
        let manifests = try Self.manifests
        #expect(manifests.count >= 9)
        let (status, output) = try await Self.run(
            validator, ["--strict", "--kubernetes-version", "1.31"] + manifests)
        #expect(status == 0, "\(output)")
        let kinds = try manifests.map { try String(contentsOfFile: $0, encoding: .utf8) }.joined(separator: "\n---\n")
        for kind in [
            "Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler",
            "NetworkPolicy", "Job",
        ] {
            #expect(kinds.contains("kind: \(kind)\n"), "no \(kind)")
        }
        let deployment = try String(
            contentsOf: Self.deploy.appendingPathComponent("kubernetes/deployment.yaml"), encoding: .utf8)
        #expect(deployment.contains("path: /readyz") && deployment.contains("path: /healthz"))
        #expect(deployment.contains("port: admin"))
        let service = try String(
            contentsOf: Self.deploy.appendingPathComponent("kubernetes/service.yaml"), encoding: .utf8)
        #expect(!service.contains("8081") && !service.contains("targetPort: admin"), "the admin port is exposed")
        let configuration = try String(
            contentsOf: Self.deploy.appendingPathComponent("kubernetes/configmap.yaml"), encoding: .utf8)
        #expect(configuration.contains(#"GATEWAY_ADMIN_HOST: "0.0.0.0""#), "probes must reach the admin port")
    }
}
