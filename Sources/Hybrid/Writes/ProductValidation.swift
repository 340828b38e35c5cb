import Foundation

/// The limits every product value meets before it reaches a database, the same for the admin API
/// and the importer.
public enum ProductValidation {
    public static let maximumSKULength = 64
    public static let maximumNameLength = 200
    public static let maximumDescriptionLength = 10_000
    public static let maximumImages = 20
    public static let maximumImageURLLength = 2048
    public static let maximumAttributes = 50
    public static let maximumAttributeKeyLength = 64
    public static let maximumAttributeStringLength = 1000

    public static func validate(_ product: NewProduct) throws {
        if let id = product.id, id <= 0 { throw HybridError.invalidInput("id must be a positive integer, got \(id)") }
        try validateSKU(product.sku)
        guard product.categoryID > 0 else {
            throw HybridError.invalidInput("category id must be a positive integer, got \(product.categoryID)")
        }
        try validate(product.document)
    }

    public static func validate(_ changes: ProductChanges) throws {
        if let sku = changes.sku { try validateSKU(sku) }
        if let categoryID = changes.categoryID, categoryID <= 0 {
            throw HybridError.invalidInput("category id must be a positive integer, got \(categoryID)")
        }
        if let name = changes.name { try validateName(name) }
        if let description = changes.description { try validateDescription(description) }
        if let currency = changes.currency { try validateCurrency(currency) }
        if let attributes = changes.attributes { try validateAttributes(attributes) }
        if let images = changes.images { try validateImages(images) }
    }

    public static func validate(_ document: ProductDocument) throws {
        try validateName(document.name)
        try validateDescription(document.description)
        try validateCurrency(document.currency)
        try validateAttributes(document.attributes)
        try validateImages(document.images)
    }

    static func validateSKU(_ sku: String) throws {
        guard !sku.isEmpty, sku.utf8.count <= maximumSKULength else {
            throw HybridError.invalidInput("sku must be 1 to \(maximumSKULength) characters, got \(sku.utf8.count)")
        }
        guard sku.utf8.allSatisfy({ isSKUByte($0) }) else {
            throw HybridError.invalidInput(
                "sku '\(printable(sku))' may contain only letters, digits, '-', '_' and '.'")
        }
    }

    static func validateName(_ name: String, field: String = "name") throws {
        guard !name.trimmingWhitespace.isEmpty, name.count <= maximumNameLength else {
            throw HybridError.invalidInput("\(field) must be 1 to \(maximumNameLength) characters, got \(name.count)")
        }
        try validateText(name, field: field, allowingLineBreaks: false)
    }

    /// No NUL (neither database can store it) and, unless `allowingLineBreaks`, no control
    /// characters at all; tab, CR and LF are allowed where text may span lines.
    public static func validateText(_ text: String, field: String, allowingLineBreaks: Bool) throws {
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            let value = scalar.value
            let isControl = value < 0x20 || value == 0x7F
            let isLineBreak = value == 0x09 || value == 0x0A || value == 0x0D
            if value == 0 || (isControl && !(allowingLineBreaks && isLineBreak)) {
                throw HybridError.invalidInput(
                    "\(field) contains the control character U+\(String(format: "%04X", value)) at position \(offset)")
            }
        }
    }

    static func validateDescription(_ description: String) throws {
        try validateText(description, field: "description", allowingLineBreaks: true)
        guard description.count <= maximumDescriptionLength else {
            throw HybridError.invalidInput(
                "description must be at most \(maximumDescriptionLength) characters, got \(description.count)")
        }
    }

    static func validateCurrency(_ currency: String) throws {
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") })
        else {
            throw HybridError.invalidInput(
                "currency must be a three-letter ISO 4217 code such as EUR, got '\(printable(currency))'")
        }
    }

    static func validateAttributes(_ attributes: [String: JSONValue]) throws {
        guard attributes.count <= maximumAttributes else {
            throw HybridError.invalidInput(
                "at most \(maximumAttributes) attributes are allowed, got \(attributes.count)")
        }
        for (key, value) in attributes {
            guard !key.isEmpty, key.utf8.count <= maximumAttributeKeyLength, !key.hasPrefix("$"), !key.contains("."),
                !key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            else {
                throw HybridError.invalidInput(
                    "attribute name '\(printable(key))' must be 1 to \(maximumAttributeKeyLength) characters without '$', '.' or control characters"
                )
            }
            try validateAttributeValue(value, key: key, depth: 0)
        }
    }

    private static func validateAttributeValue(_ value: JSONValue, key: String, depth: Int) throws {
        guard depth < 4 else { throw HybridError.invalidInput("attribute '\(key)' is nested too deeply") }
        switch value {
        case .string(let text) where text.count > maximumAttributeStringLength:
            throw HybridError.invalidInput(
                "attribute '\(key)' is longer than \(maximumAttributeStringLength) characters")
        case .string(let text):
            try validateText(text, field: "attribute '\(key)'", allowingLineBreaks: true)
        case .double(let number) where !number.isFinite:
            throw HybridError.invalidInput("attribute '\(key)' is not a finite number")
        case .array(let values):
            guard values.count <= 100 else {
                throw HybridError.invalidInput("attribute '\(key)' has more than 100 values")
            }
            for element in values { try validateAttributeValue(element, key: key, depth: depth + 1) }
        case .object(let fields):
            guard fields.count <= 50 else {
                throw HybridError.invalidInput("attribute '\(key)' has more than 50 fields")
            }
            for (name, element) in fields {
                guard !name.isEmpty, !name.hasPrefix("$"), !name.contains("."),
                    !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
                else {
                    throw HybridError.invalidInput(
                        "attribute '\(key)' has an empty field name or one with '$', '.' or control characters")
                }
                try validateAttributeValue(element, key: key, depth: depth + 1)
            }
        default:
            break
        }
    }

    static func validateImages(_ images: [String]) throws {
        guard images.count <= maximumImages else {
            throw HybridError.invalidInput("at most \(maximumImages) images are allowed, got \(images.count)")
        }
        for (index, url) in images.enumerated() {
            guard url.utf8.count <= maximumImageURLLength, url.hasPrefix("https://") || url.hasPrefix("http://"),
                url.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F })
            else {
                throw HybridError.invalidInput(
                    "images[\(index)] must be an http(s) URL of at most \(maximumImageURLLength) characters")
            }
        }
    }

    /// Text from input, safe to repeat in an error: at most 80 characters, control characters as
    /// U+XXXX.
    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(80) {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                result += "U+" + String(format: "%04X", scalar.value)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func isSKUByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            true
        default: false
        }
    }
}

extension String {
    var trimmingWhitespace: Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<max(start, end)]
    }
}
