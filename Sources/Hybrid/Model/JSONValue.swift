/// A JSON value of free-form document fields (product attributes, outbox payloads).
///
/// Objects are dictionaries: writers emit their keys sorted, so equal values always give equal
/// bytes (and equal ETags).
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            if let count = array.count { values.reserveCapacity(count) }
            while !array.isAtEnd { values.append(try array.decode(JSONValue.self)) }
            self = .array(values)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var values: [String: JSONValue] = [:]
            for key in object.allKeys { values[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(values)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let value = try? single.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? single.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? single.decode(Double.self) {
            self = .double(value)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .bool(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .int(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .double(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .string(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .array(let values):
            var array = encoder.unkeyedContainer()
            for value in values { try array.encode(value) }
        case .object(let values):
            var object = encoder.container(keyedBy: AnyKey.self)
            for key in values.keys.sorted() { try object.encode(values[key]!, forKey: AnyKey(key)) }
        }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { self.stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension JSONValue {
    /// Where the first string holding NUL is (`attributes.color`, `images[2]`), if any: neither
    /// PostgreSQL text nor a BSON key can carry one.
    public func pathOfStringWithNUL(at path: String = "") -> String? {
        switch self {
        case .string(let text):
            return text.utf8.contains(0) ? (path.isEmpty ? "(the value)" : path) : nil
        case .array(let values):
            for (index, value) in values.enumerated() {
                if let found = value.pathOfStringWithNUL(at: "\(path)[\(index)]") { return found }
            }
            return nil
        case .object(let fields):
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                let child = path.isEmpty ? key : "\(path).\(key)"
                if key.utf8.contains(0) { return child.replacingOccurrences(of: "\0", with: "\\u0000") }
                if let found = value.pathOfStringWithNUL(at: child) { return found }
            }
            return nil
        default:
            return nil
        }
    }
}
