import NIOCore
import NIOHPACK
import NIOHTTP1

/// A storefront response as the cache keeps it: status, validators and body (and its gzip form),
/// ready to write.
///
/// Stored in Redis as the cache entry's payload and held decoded in the near-cache, so a hit only
/// appends the per-request headers, and a gzip hit compresses nothing.
///
/// Payload: status (2) · ETag length (2) + ETag · Surrogate-Key length (2) + Surrogate-Key ·
/// body length (4) + body · gzip body (the rest; empty when not worth compressing).
public struct PreparedResponse: Sendable {
    public var status: HTTPResponseStatus
    public var etag: String
    public var surrogateKey: String
    public var body: ByteBuffer
    public var gzipBody: ByteBuffer?
    /// The headers every identity answer carries; the per-request ones are appended.
    public var headers: HTTPHeaders
    /// The headers of the gzip answer (its own ETag: a different representation).
    public var gzipHeaders: HTTPHeaders
    /// The whole header sets of a near-cache hit, built once when the entry is decoded for the
    /// near-cache, so a hit copies nothing but what it appends per request; `nil` for an entry
    /// that only answers one Redis hit (building them would be wasted).
    let nearHit: NearHitHeaders?

    struct NearHitHeaders: Sendable {
        /// With `Cache-Status` and `Content-Length`.
        let identity: HTTPHeaders
        let gzip: HTTPHeaders
        /// The same two as HTTP/2 header lists.
        let identityHTTP2: HPACKHeaders
        let gzipHTTP2: HPACKHeaders
    }

    public init(
        status: HTTPResponseStatus, etag: String, surrogateKey: String, body: ByteBuffer, gzipBody: ByteBuffer? = nil,
        cacheControl: String, forNearCache: Bool = true
    ) {
        self.status = status
        self.etag = etag
        self.surrogateKey = surrogateKey
        self.body = body
        self.gzipBody = gzipBody
        var headers = HTTPHeaders()
        headers.reserveCapacity(8)
        headers.add(name: "content-type", value: status == .ok ? "application/json" : "application/problem+json")
        headers.add(name: "etag", value: etag)
        headers.add(name: "cache-control", value: cacheControl)
        headers.add(name: "surrogate-key", value: surrogateKey)
        if gzipBody != nil { headers.add(name: "vary", value: "accept-encoding") }
        self.headers = headers
        var gzipHeaders = headers
        gzipHeaders.replaceOrAdd(name: "etag", value: Self.gzipETag(etag))
        gzipHeaders.add(name: "content-encoding", value: "gzip")
        self.gzipHeaders = gzipHeaders
        guard forNearCache else {
            nearHit = nil
            return
        }
        var nearHitHeaders = headers
        nearHitHeaders.add(name: "cache-status", value: CacheStatus.nearHit)
        nearHitHeaders.add(name: "content-length", value: String(body.readableBytes))
        var nearHitGzipHeaders = gzipHeaders
        nearHitGzipHeaders.add(name: "cache-status", value: CacheStatus.nearHit)
        nearHitGzipHeaders.add(name: "content-length", value: String(gzipBody?.readableBytes ?? 0))
        nearHit = NearHitHeaders(
            identity: nearHitHeaders, gzip: nearHitGzipHeaders,
            identityHTTP2: HTTP2StorefrontHandler.hpack(status: status, nearHitHeaders, dropping: []),
            gzipHTTP2: HTTP2StorefrontHandler.hpack(status: status, nearHitGzipHeaders, dropping: []))
    }

    /// Builds a response for a freshly rendered body; the ETag is a 64-bit FNV-1a of the bytes, and
    /// a body of 1 KiB or more is also kept gzip-compressed.
    public init(status: HTTPResponseStatus, body: [UInt8], surrogateKey: String, cacheControl: String) {
        self.init(
            status: status, etag: Self.etag(of: body), surrogateKey: surrogateKey, body: ByteBuffer(bytes: body),
            gzipBody: Gzip.compress(body).map { ByteBuffer(bytes: $0) }, cacheControl: cacheControl)
    }

    /// The cache payload.
    public func payload() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(
            capacity: 12 + etag.utf8.count + surrogateKey.utf8.count + body.readableBytes
                + (gzipBody?.readableBytes ?? 0))
        buffer.writeInteger(UInt16(status.code))
        buffer.writeInteger(UInt16(etag.utf8.count))
        buffer.writeString(etag)
        buffer.writeInteger(UInt16(surrogateKey.utf8.count))
        buffer.writeString(surrogateKey)
        var body = body
        buffer.writeInteger(UInt32(body.readableBytes))
        buffer.writeBuffer(&body)
        if var gzipBody { buffer.writeBuffer(&gzipBody) }
        return buffer
    }

    /// Reads a payload; the bodies are slices of `payload`, not copies.
    public init?(payload: ByteBuffer, cacheControl: String, forNearCache: Bool = true) {
        var buffer = payload
        guard let code = buffer.readInteger(as: UInt16.self), let etagLength = buffer.readInteger(as: UInt16.self),
            let etag = buffer.readString(length: Int(etagLength)), let keyLength = buffer.readInteger(as: UInt16.self),
            let surrogateKey = buffer.readString(length: Int(keyLength)),
            let bodyLength = buffer.readInteger(as: UInt32.self),
            let body = buffer.readSlice(length: Int(bodyLength))
        else { return nil }
        self.init(
            status: HTTPResponseStatus(statusCode: Int(code)), etag: etag, surrogateKey: surrogateKey, body: body,
            gzipBody: buffer.readableBytes > 0 ? buffer : nil, cacheControl: cacheControl, forNearCache: forNearCache)
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

    static func gzipETag(_ etag: String) -> String {
        etag.hasSuffix("\"") ? String(etag.dropLast()) + "-gz\"" : etag + "-gz"
    }

    /// The bytes the near-cache charges for this response.
    public var cost: Int {
        body.readableBytes + (gzipBody?.readableBytes ?? 0) + etag.utf8.count + surrogateKey.utf8.count + 1024
    }

    /// The answer to a near-cache hit: headers complete but for the request id.
    func nearHitResponse(gzip: Bool) -> StorefrontResponse {
        guard let nearHit else { return response(cacheStatus: CacheStatus.nearHit, label: "near_hit", gzip: gzip) }
        var response: StorefrontResponse
        if gzip, let gzipBody {
            response = StorefrontResponse(
                status: status, headers: nearHit.gzip, body: gzipBody, cacheLabel: "near_hit", hasContentLength: true)
            response.http2Headers = nearHit.gzipHTTP2
        } else {
            response = StorefrontResponse(
                status: status, headers: nearHit.identity, body: body, cacheLabel: "near_hit", hasContentLength: true)
            response.http2Headers = nearHit.identityHTTP2
        }
        return response
    }

    /// The answer to one request: the stored headers plus `Cache-Status`, compressed when the
    /// client accepts gzip and a compressed form is stored.
    public func response(cacheStatus: String, label: String = "none", gzip: Bool = false) -> StorefrontResponse {
        if gzip, let gzipBody {
            var headers = gzipHeaders
            headers.add(name: "cache-status", value: cacheStatus)
            return StorefrontResponse(status: status, headers: headers, body: gzipBody, cacheLabel: label)
        }
        var headers = self.headers
        headers.add(name: "cache-status", value: cacheStatus)
        return StorefrontResponse(status: status, headers: headers, body: body, cacheLabel: label)
    }
}
