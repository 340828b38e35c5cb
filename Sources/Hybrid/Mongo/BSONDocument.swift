import CMongoC

/// An owned `bson_t`: created and destroyed by this value, never handed out past a call.
final class BSONDocument {
    let pointer: OpaquePointer

    init() {
        pointer = bson_new()!
    }

    /// Copies a document that someone else owns (a cursor's current document, a reply).
    init(copying other: OpaquePointer) {
        pointer = bson_copy(other)!
    }

    /// Builds a document from ordered pairs; order matters for commands and sort specifications.
    convenience init(_ pairs: KeyValuePairs<String, JSONValue>) {
        self.init()
        for (key, value) in pairs { append(key, value) }
    }

    convenience init(fields: [String: JSONValue]) {
        self.init()
        for key in fields.keys.sorted() { append(key, fields[key]!) }
    }

    deinit {
        bson_destroy(pointer)
    }

    func append(_ key: String, _ value: JSONValue) {
        switch value {
        case .null: bson_append_null(pointer, key, -1)
        case .bool(let flag): bson_append_bool(pointer, key, -1, flag)
        case .int(let number): bson_append_int64(pointer, key, -1, number)
        case .double(let number): bson_append_double(pointer, key, -1, number)
        case .string(let text): appendString(key, text)
        case .array(let values):
            let child = BSONDocument()
            for (index, element) in values.enumerated() { child.append(String(index), element) }
            bson_append_array(pointer, key, -1, child.pointer)
        case .object(let fields):
            let child = BSONDocument(fields: fields)
            bson_append_document(pointer, key, -1, child.pointer)
        }
    }

    func append(_ key: String, document child: BSONDocument) {
        bson_append_document(pointer, key, -1, child.pointer)
    }

    private func appendString(_ key: String, _ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                if let base = chars.baseAddress {
                    _ = bson_append_utf8(pointer, key, -1, base, Int32(chars.count))
                } else {
                    _ = bson_append_utf8(pointer, key, -1, "", 0)
                }
            }
        }
    }

    /// The document's fields as JSON values.
    func fields() -> [String: JSONValue] {
        BSONDocument.fields(of: pointer)
    }

    /// Reads every field of a document owned elsewhere; the values are Swift copies.
    static func fields(of document: OpaquePointer) -> [String: JSONValue] {
        withIterator { iterator in
            guard bson_iter_init(iterator, document) else { return [:] }
            return readObject(iterator)
        }
    }

    /// `bson_iter_t` is declared 128-byte aligned; Swift's stack gives no such promise.
    private static func withIterator<Result>(_ body: (OpaquePointer) -> Result) -> Result {
        let iterator = cmongoc_iter_new()!
        defer { cmongoc_iter_free(iterator) }
        return body(iterator)
    }

    private static func readObject(_ iterator: OpaquePointer) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        while bson_iter_next(iterator) {
            fields[String(cString: bson_iter_key(iterator))] = readValue(iterator)
        }
        return fields
    }

    private static func readArray(_ iterator: OpaquePointer) -> [JSONValue] {
        var values: [JSONValue] = []
        while bson_iter_next(iterator) { values.append(readValue(iterator)) }
        return values
    }

    private static func readValue(_ iterator: OpaquePointer) -> JSONValue {
        switch bson_iter_type(iterator) {
        case BSON_TYPE_UTF8:
            var length: UInt32 = 0
            guard let chars = bson_iter_utf8(iterator, &length) else { return .null }
            let bytes = UnsafeRawBufferPointer(start: chars, count: Int(length))
            return .string(String(decoding: bytes, as: UTF8.self))
        case BSON_TYPE_INT32: return .int(Int64(bson_iter_int32(iterator)))
        case BSON_TYPE_INT64: return .int(bson_iter_int64(iterator))
        case BSON_TYPE_DOUBLE: return .double(bson_iter_double(iterator))
        case BSON_TYPE_BOOL: return .bool(bson_iter_bool(iterator))
        case BSON_TYPE_DATE_TIME: return .int(bson_iter_date_time(iterator))
        case BSON_TYPE_DOCUMENT:
            return withIterator { child in
                bson_iter_recurse(iterator, child) ? .object(readObject(child)) : .null
            }
        case BSON_TYPE_ARRAY:
            return withIterator { child in
                bson_iter_recurse(iterator, child) ? .array(readArray(child)) : .null
            }
        case BSON_TYPE_OID:
            guard let oid = bson_iter_oid(iterator) else { return .null }
            var text = [CChar](repeating: 0, count: 25)
            bson_oid_to_string(oid, &text)
            return .string(String(decoding: text.prefix(24).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        default:
            return .null
        }
    }
}
