import Foundation

/// Generates a deterministic synthetic catalog: the same arguments always give the same products,
/// ids, prices and timestamps, so benchmarks and tests can rely on them.
public struct CatalogGenerator: Sendable, Sequence {
    public let categories: Int
    public let perCategory: Int
    public let seed: UInt64

    public init(categories: Int, perCategory: Int, seed: UInt64 = 42) {
        self.categories = categories
        self.perCategory = perCategory
        self.seed = seed
    }

    public var count: Int { categories * perCategory }

    /// Category `index` (from 1) of the generated catalog.
    public func category(_ index: Int) -> ImportRecord.CategoryReference {
        let noun = Words.categoryNouns[(index - 1) % Words.categoryNouns.count]
        let adjective = Words.categoryAdjectives[
            ((index - 1) / Words.categoryNouns.count) % Words.categoryAdjectives.count]
        let round = (index - 1) / (Words.categoryNouns.count * Words.categoryAdjectives.count)
        let suffix = round > 0 ? " \(round + 1)" : ""
        let name = "\(adjective) \(noun)\(suffix)"
        let slug = name.lowercased().replacingOccurrences(of: " ", with: "-")
        return ImportRecord.CategoryReference(id: Int64(index), slug: slug, name: name)
    }

    /// The product with id `id` (from 1): category `(id - 1) / perCategory + 1`.
    public func product(id: Int64) -> ImportRecord {
        var random = SplitMix64(seed: seed &+ UInt64(id) &* 0x9E37_79B9_7F4A_7C15)
        let categoryIndex = Int((id - 1) / Int64(perCategory)) + 1
        let adjective = Words.productAdjectives[random.next(below: Words.productAdjectives.count)]
        let material = Words.materials[random.next(below: Words.materials.count)]
        let noun = Words.productNouns[random.next(below: Words.productNouns.count)]
        let color = Words.colors[random.next(below: Words.colors.count)]
        let cents = 99 + random.next(below: 99_900)
        let price = Price(scaledValue: Int64(cents) * 100)
        let imageCount = 1 + random.next(below: 4)
        // Spread over 2024, newest-first order then differs from id order.
        let created = Date(timeIntervalSince1970: 1_704_067_200 + Double(random.next(below: 366 * 86_400)))
        let statusRoll = random.next(below: 100)
        let status: ProductStatus = statusRoll < 96 ? .active : (statusRoll < 98 ? .draft : .archived)
        let document = ProductDocument(
            name: "\(adjective) \(material) \(noun)",
            description:
                "A \(adjective.lowercased()) \(noun.lowercased()) made of \(material.lowercased()), in \(color). "
                + "Item \(id) of the generated demo catalog.",
            price: price,
            currency: "EUR",
            attributes: [
                "color": .string(color),
                "material": .string(material.lowercased()),
                "weight_g": .int(Int64(50 + random.next(below: 5000))),
                "rating": .double(Double(10 + random.next(below: 41)) / 10),
                "in_stock": .bool(random.next(below: 10) > 0),
            ],
            images: (1...imageCount).map { "https://images.example.com/products/\(id)/\($0).jpg" })
        let product = NewProduct(
            id: id, sku: String(format: "SKU-%08lld", id), categoryID: Int64(categoryIndex), status: status,
            createdAt: created, document: document)
        return ImportRecord(product: product, category: category(categoryIndex))
    }

    public func makeIterator() -> AnyIterator<ImportRecord> {
        var next: Int64 = 1
        let last = Int64(count)
        return AnyIterator {
            guard next <= last else { return nil }
            defer { next += 1 }
            return self.product(id: next)
        }
    }
}

/// A small, fast, deterministic generator (SplitMix64): the seeded catalog and the fuzz tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

enum Words {
    static let categoryNouns = [
        "Lighting", "Furniture", "Cookware", "Bedding", "Garden Tools", "Rugs", "Storage", "Tableware", "Bath",
        "Decor", "Outdoor Seating", "Lamps", "Shelving", "Textiles", "Candles", "Mirrors", "Clocks", "Planters",
        "Kitchen Gadgets", "Office Supplies",
    ]
    static let categoryAdjectives = ["Outdoor", "Modern", "Vintage", "Kids", "Compact", "Premium", "Rustic", "Nordic"]
    static let productAdjectives = [
        "Classic", "Sleek", "Sturdy", "Cozy", "Elegant", "Minimal", "Bold", "Soft", "Handmade", "Portable", "Smart",
        "Foldable",
    ]
    static let materials = [
        "Oak", "Steel", "Linen", "Ceramic", "Bamboo", "Glass", "Wool", "Copper", "Walnut", "Cotton",
    ]
    static let productNouns = [
        "Lamp", "Chair", "Table", "Vase", "Basket", "Throw", "Bowl", "Shelf", "Stool", "Tray", "Lantern", "Cushion",
        "Mug", "Bench", "Planter",
    ]
    static let colors = ["red", "blue", "green", "black", "white", "grey", "yellow", "teal", "sand", "navy"]
}
