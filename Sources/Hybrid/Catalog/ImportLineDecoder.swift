import Foundation

/// A line of an import that was refused, and why.
public struct ImportLineError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var reason: String

    public var description: String { "line \(line): \(reason)" }
}

/// Decodes and validates one line of the interchange format.
public struct ImportLineDecoder: Sendable {
    public static let maximumLineBytes = 1 << 20

    public init() {}

    /// - Throws: `ImportLineError` naming the field and what is wrong with it.
    public func decode(_ line: some Collection<UInt8>, number: Int) throws -> ImportRecord {
        guard line.count <= Self.maximumLineBytes else {
            throw ImportLineError(line: number, reason: "the line is longer than \(Self.maximumLineBytes) bytes")
        }
        let record: ImportRecord
        do {
            record = try JSONDecoder().decode(ImportRecord.self, from: Data(line))
        } catch let error as DecodingError {
            throw ImportLineError(line: number, reason: Self.describe(error))
        } catch {
            throw ImportLineError(line: number, reason: "invalid JSON: \(error)")
        }
        do {
            try ProductValidation.validate(record.product)
            try Self.validate(record.category)
        } catch let error as HybridError {
            throw ImportLineError(line: number, reason: error.description)
        }
        return record
    }

    static func validate(_ category: ImportRecord.CategoryReference) throws {
        guard category.id > 0 else {
            throw HybridError.invalidInput("category.id must be a positive integer, got \(category.id)")
        }
        guard !category.slug.isEmpty, category.slug.utf8.count <= 100,
            category.slug.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 })
        else {
            throw HybridError.invalidInput("category.slug must be 1 to 100 characters of a-z, 0-9 and '-'")
        }
        guard !category.name.trimmingWhitespace.isEmpty, category.name.count <= 200 else {
            throw HybridError.invalidInput("category.name must be 1 to 200 characters")
        }
        try ProductValidation.validateText(category.name, field: "category.name", allowingLineBreaks: false)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field '\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)'"
        case .valueNotFound(let type, let context):
            return "field '\(path(context))' is null, expected \(Self.name(of: type))"
        case .typeMismatch(let type, let context):
            return "field '\(path(context))' has the wrong type, expected \(Self.name(of: type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return "invalid JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)"
            }
            return "field '\(path(context))': \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int64.Type, is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        case is [String].Type: "an array of strings"
        default:
            String(describing: type).contains("Dictionary") ? "an object" : String(describing: type)
        }
    }
}
