import Hybrid
import TestSupport
import Testing

@Suite struct PriceTests {
    @Test(arguments: [
        ("49.90", "49.90", 499_000), ("49.9", "49.90", 499_000), ("0.5", "0.50", 5_000),
        ("1200", "1200.00", 12_000_000),
        ("0.125", "0.125", 1_250), ("7.0000", "7.00", 70_000),
    ])
    func parsesDecimalStrings(text: String, canonical: String, scaled: Int64) throws {
        let price = try #require(Price(text))
        #expect(price.description == canonical)
        #expect(price.scaledValue == scaled)
    }

    @Test(arguments: [
        "-1.00", "1e3", " 5", "5 ", "", ".5", "5.", "1.23456", "1,00", "abc", "+3", "10000000000000", "NaN",
    ])
    func refusesAnythingElse(text: String) {
        #expect(Price(text) == nil)
    }

    @Test func ordersByValue() throws {
        #expect(try #require(Price("9.99")) < #require(Price("10")))
    }
}
