import Hybrid
import TestSupport
import Testing

@Suite struct CatalogGeneratorTests {
    @Test func sameArgumentsGiveTheSameCatalog() {
        let first = Array(CatalogGenerator(categories: 3, perCategory: 40))
        let second = Array(CatalogGenerator(categories: 3, perCategory: 40))
        #expect(first == second)
        #expect(first.count == 120)
        #expect(first.map(\.id) == Array(1...120))
        #expect(Array(CatalogGenerator(categories: 3, perCategory: 40, seed: 7)) != first)
    }

    @Test func productsFillTheirCategoriesInIDOrder() {
        let generator = CatalogGenerator(categories: 4, perCategory: 25)
        #expect(generator.product(id: 1).product.categoryID == 1)
        #expect(generator.product(id: 25).product.categoryID == 1)
        #expect(generator.product(id: 26).product.categoryID == 2)
        #expect(generator.product(id: 100).product.categoryID == 4)
        let slugs = Set((1...4).map { generator.category($0).slug })
        #expect(slugs.count == 4)
    }

    @Test func everyGeneratedProductPassesValidation() throws {
        for record in CatalogGenerator(categories: 2, perCategory: 200) {
            try ProductValidation.validate(record.product)
        }
    }
}
