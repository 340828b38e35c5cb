import HTTPTypes
import Testing

@testable import Gateway

@Suite struct WriteThreadTests {
    /// Single writes run on the write thread; the bulk route and hooks (heavy to decode or apply)
    /// and every read stay on the shared pool.
    @Test(arguments: [
        ("POST", "/admin/v1/products", true), ("PATCH", "/admin/v1/products/12", true),
        ("DELETE", "/admin/v1/products/12", true), ("POST", "/admin/v1/categories", true),
        ("PATCH", "/admin/v1/categories/3", true), ("PATCH", "/admin/v1/products", false),
        ("GET", "/admin/v1/products/12", false), ("POST", "/hooks/v1/invalidate", false),
        ("POST", "/admin/v1/warmup", false), ("GET", "/metrics", false), ("GET", "/readyz", false),
    ])
    func singleWritesAloneRunOnTheWriteThread(method: String, path: String, single: Bool) {
        let method = HTTPRequest.Method(method)!
        #expect(PreferredExecutorMiddleware.isSingleWrite(method: method, path: path) == single)
    }
}
