import NIOCore
import NIOHTTP1

/// A storefront response as the cache keeps it: status, validators and body, ready to write.
///
/// Stored in Redis as the cache entry's payload (layout below) and held decoded in the
/// near-cache, so a hit only appends the per-request headers.
///
/// Payload: status (2) · ETag length (2) + ETag · Surrogate-Key length (2) + Surrogate-Key · body.
public struct PreparedResponse: Sendable {
    public var status: HTTPResponseStatus
    public var etag: String
    public var surrogateKey: String
    public var body: ByteBuffer
    /// The headers every answer of this response carries; the per-request ones are appended.
    public var headers: HTTPHeaders

    public init(status: HTTPResponseStatus, etag: String, surrogateKey: String, body: ByteBuffer, cacheControl: String)
    {
        self.status = status
        self.etag = etag
        self.surrogateKey = surrogateKey
        self.body = body
        var headers = HTTPHeaders()
        headers.reserveCapacity(8)
        headers.add(name: "content-type", value: status == .ok ? "application/json" : "application/problem+json")
        headers.add(name: "etag", value: etag)
        headers.add(name: "cache-control", value: cacheControl)
        headers.add(name: "surrogate-key", value: surrogateKey)
        self.headers = headers
    }

    /// Builds a response for a freshly rendered body; the ETag is a 64-bit FNV-1a of the bytes.
    public init(status: HTTPResponseStatus, body: [UInt8], surrogateKey: String, cacheControl: String) {
        self.init(
            status: status, etag: Self.etag(of: body), surrogateKey: surrogateKey, body: ByteBuffer(bytes: body),
            cacheControl: cacheControl)
    }

    /// The cache payload.
    public func payload() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(
            capacity: 8 + etag.utf8.count + surrogateKey.utf8.count + body.readableBytes)
        buffer.writeInteger(UInt16(status.code))
        buffer.writeInteger(UInt16(etag.utf8.count))
        buffer.writeString(etag)
        buffer.writeInteger(UInt16(surrogateKey.utf8.count))
        buffer.writeString(surrogateKey)
        var body = body
        buffer.writeBuffer(&body)
        return buffer
    }

    /// Reads a payload; the body is a slice of `payload`, not a copy.
    public init?(payload: ByteBuffer, cacheControl: String) {
        var buffer = payload
        guard let code = buffer.readInteger(as: UInt16.self), let etagLength = buffer.readInteger(as: UInt16.self),
            let etag = buffer.readString(length: Int(etagLength)), let keyLength = buffer.readInteger(as: UInt16.self),
            let surrogateKey = buffer.readString(length: Int(keyLength))
        else { return nil }
        self.init(
            status: HTTPResponseStatus(statusCode: Int(code)), etag: etag, surrogateKey: surrogateKey, body: buffer,
            cacheControl: cacheControl)
    }

    /// A strong validator: equal bodies, equal tags; any change of a byte changes it.
    public static func etag(of body: some Sequence<UInt8>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
    }

    /// The bytes the near-cache charges for this response.
    public var cost: Int { body.readableBytes + etag.utf8.count + surrogateKey.utf8.count + 256 }

    /// The answer to one request: the stored headers plus `Cache-Status`.
    public func response(cacheStatus: String, label: String = "none") -> StorefrontResponse {
        var headers = self.headers
        headers.add(name: "cache-status", value: cacheStatus)
        return StorefrontResponse(status: status, headers: headers, body: body, cacheLabel: label)
    }
}
