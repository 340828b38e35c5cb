import Foundation
import Hummingbird
import Hybrid

/// A JSON object from a request body, read field by field so every error names its field.
struct JSONBody {
    static let maximumBytes = 1 << 20

    let fields: [String: JSONValue]

    /// Reads the body of a JSON request.
    /// - Throws: `Problem` 415 (not JSON), 413 (over 1 MiB), 400 (malformed, not an object, unknown field).
    static func read(_ request: Request, allowed: Set<String>) async throws -> JSONBody {
        let contentType = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(
            in: .whitespaces
        ).lowercased()
        guard contentType == "application/json" else {
            throw Problem(
                status: .unsupportedMediaType, title: "Unsupported Media Type",
                detail: "the body must be application/json, got '\(contentType ?? "nothing")'")
        }
        let buffer = try await request.body.collect(upTo: maximumBytes)
        return try parse(Array(buffer.readableBytesView), allowed: allowed)
    }

    /// Parses a JSON object; every string in it (names and values, at any depth) must be free of
    /// NUL, which neither database can store.
    /// - Throws: `Problem` 400 naming what is wrong (where it is, for a NUL).
    static func parse(_ bytes: [UInt8], allowed: Set<String>) throws -> JSONBody {
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw Problem.badRequest("the body is not valid JSON (or nests deeper than 512 levels)")
        }
        guard case .object(let fields) = value else { throw Problem.badRequest("the body must be a JSON object") }
        return try parse(fields, allowed: allowed)
    }

    /// Checks an already decoded JSON object (an item of a bulk body) like `parse(_:allowed:)`.
    static func parse(_ fields: [String: JSONValue], allowed: Set<String>) throws -> JSONBody {
        let value = JSONValue.object(fields)
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw Problem.badRequest(
                "unknown field '\(Self.printable(unknown))'; allowed fields are \(allowed.sorted().joined(separator: ", "))"
            )
        }
        if let path = value.pathOfStringWithNUL() {
            throw Problem.badRequest("field '\(path)' contains a NUL character (\\u0000), which cannot be stored")
        }
        return JSONBody(fields: fields)
    }

    /// Text from a request, safe to repeat in an answer: at most 64 characters, control characters
    /// shown as U+XXXX.
    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(64) {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                result += "U+" + String(scalar.value, radix: 16, uppercase: true)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    func has(_ name: String) -> Bool { fields[name] != nil }

    func string(_ name: String, required: Bool = false) throws -> String? {
        switch fields[name] {
        case .string(let text): return text
        case nil: if required { throw Problem.badRequest("field '\(name)' is required") } else { return nil }
        default: throw Problem.badRequest("field '\(name)' must be a string")
        }
    }

    func requiredString(_ name: String) throws -> String {
        guard let value = try string(name) else { throw Problem.badRequest("field '\(name)' is required") }
        return value
    }

    func requiredInteger(_ name: String) throws -> Int64 {
        guard let value = try integer(name) else { throw Problem.badRequest("field '\(name)' is required") }
        return value
    }

    func requiredPrice(_ name: String) throws -> Price {
        guard let value = try price(name) else { throw Problem.badRequest("field '\(name)' is required") }
        return value
    }

    func integer(_ name: String, required: Bool = false) throws -> Int64? {
        switch fields[name] {
        case .int(let number): return number
        case nil: if required { throw Problem.badRequest("field '\(name)' is required") } else { return nil }
        default: throw Problem.badRequest("field '\(name)' must be an integer")
        }
    }

    func price(_ name: String, required: Bool = false) throws -> Price? {
        switch fields[name] {
        case .string(let text):
            guard let price = Price(text) else {
                throw Problem.badRequest(
                    "field '\(name)' must be a non-negative decimal string with at most 4 fraction digits, such as \"49.90\""
                )
            }
            return price
        case nil: if required { throw Problem.badRequest("field '\(name)' is required") } else { return nil }
        default: throw Problem.badRequest("field '\(name)' must be a decimal string such as \"49.90\", not a number")
        }
    }

    func status(_ name: String) throws -> ProductStatus? {
        guard let text = try string(name) else { return nil }
        guard let status = ProductStatus(rawValue: text) else {
            throw Problem.badRequest("field '\(name)' must be one of active, draft, archived; got '\(text.prefix(40))'")
        }
        return status
    }

    func object(_ name: String) throws -> [String: JSONValue]? {
        switch fields[name] {
        case .object(let values): return values
        case nil: return nil
        default: throw Problem.badRequest("field '\(name)' must be an object")
        }
    }

    func strings(_ name: String) throws -> [String]? {
        switch fields[name] {
        case .array(let values):
            return try values.map {
                guard case .string(let text) = $0 else {
                    throw Problem.badRequest("field '\(name)' must be an array of strings")
                }
                return text
            }
        case nil: return nil
        default: throw Problem.badRequest("field '\(name)' must be an array of strings")
        }
    }

    func integers(_ name: String) throws -> [Int64]? {
        switch fields[name] {
        case .array(let values):
            return try values.map {
                guard case .int(let number) = $0, number > 0 else {
                    throw Problem.badRequest("field '\(name)' must be an array of positive integers")
                }
                return number
            }
        case nil: return nil
        default: throw Problem.badRequest("field '\(name)' must be an array of positive integers")
        }
    }

    func bool(_ name: String) throws -> Bool? {
        switch fields[name] {
        case .bool(let flag): return flag
        case nil: return nil
        default: throw Problem.badRequest("field '\(name)' must be true or false")
        }
    }
}
