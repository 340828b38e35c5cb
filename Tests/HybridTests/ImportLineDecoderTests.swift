import Hybrid
import TestSupport
import Testing

@Suite struct ImportLineDecoderTests {
    static let good =
        #"{"id": 1, "sku": "SKU-00000001", "category": {"id": 1, "slug": "outdoor-lighting", "name": "Outdoor Lighting"}, "status": "active", "created_at": "2024-03-05T12:34:56Z", "name": "Lantern", "description": "Warm light", "price": "49.90", "currency": "EUR", "attributes": {"color": "red", "weight_g": 420, "dimmable": true, "rating": 4.5}, "images": ["https://img.example/1.jpg"]}"#

    func decode(_ text: String, line: Int = 3) throws -> ImportRecord {
        try ImportLineDecoder().decode(Array(text.utf8), number: line)
    }

    func reason(_ text: String) -> String? {
        do {
            _ = try decode(text)
            return nil
        } catch let error as ImportLineError {
            #expect(error.line == 3)
            return error.reason
        } catch {
            return "\(error)"
        }
    }

    func replacing(_ old: String, with new: String) -> String {
        Self.good.replacingOccurrences(of: old, with: new)
    }

    @Test func decodesTheDocumentedFormat() throws {
        let record = try decode(Self.good)
        #expect(record.id == 1)
        #expect(record.category == .init(id: 1, slug: "outdoor-lighting", name: "Outdoor Lighting"))
        #expect(record.product.document.price.description == "49.90")
        #expect(record.product.document.attributes["weight_g"] == .int(420))
        #expect(record.product.document.attributes["dimmable"] == .bool(true))
        #expect(record.product.document.attributes["rating"] == .double(4.5))
        #expect(record.product.createdAt?.timeIntervalSince1970 == 1_709_642_096)
    }

    @Test func roundTripsThroughItsOwnJSONLine() throws {
        let record = try decode(Self.good)
        let again = try ImportLineDecoder().decode(record.jsonLine(), number: 1)
        #expect(again == record)
    }

    /// Whether the line is refused with a reason that contains `fragment`.
    func refused(_ text: String, saying fragment: String) -> Bool {
        guard let reason = reason(text) else { return false }
        return reason.contains(fragment)
    }

    @Test func namesTheProblem() {
        #expect(refused("{not json", saying: "invalid JSON"))
        #expect(reason(replacing(#""sku": "SKU-00000001", "#, with: "")) == "missing field 'sku'")
        #expect(refused(replacing(#""price": "49.90""#, with: #""price": 49.90"#), saying: "'price'"))
        #expect(refused(replacing(#""price": "49.90""#, with: #""price": "-3.00""#), saying: "non-negative"))
        #expect(refused(replacing(#""price": "49.90""#, with: #""price": "4.99999""#), saying: "price"))
        #expect(refused(replacing(#""id": 1,"#, with: #""id": "one","#), saying: "'id'"))
        #expect(refused(replacing(#""currency": "EUR""#, with: #""currency": "euro""#), saying: "currency"))
        #expect(
            refused(
                replacing(#""created_at": "2024-03-05T12:34:56Z""#, with: #""created_at": "yesterday""#),
                saying: "created_at"))
        let longName = String(repeating: "x", count: 201)
        #expect(refused(replacing(#""name": "Lantern""#, with: "\"name\": \"\(longName)\""), saying: "name must be"))
        #expect(
            refused(
                replacing(#""slug": "outdoor-lighting""#, with: #""slug": "Outdoor Lighting""#), saying: "category.slug"
            ))
        #expect(refused(replacing(#""status": "active""#, with: #""status": "sold""#), saying: "'status'"))
    }
}
