import Foundation
import Hybrid
import TestSupport
import Testing

@Suite struct ProductModelTests {
    func sample() -> Product {
        let row = ProductRow(
            id: 7, sku: "SKU-7", categoryID: 3, status: .active, createdAt: Date(timeIntervalSince1970: 0),
            updatedAt: Date(timeIntervalSince1970: 0), version: 4)
        let document = ProductDocument(
            name: "Lamp", description: "A lamp", price: Price("19.90")!, currency: "EUR",
            attributes: ["color": .string("red")], images: ["https://i.example/1.jpg"])
        return Product(row: row, document: document)
    }

    @Test func memberAccessReachesBothParts() {
        let product = sample()
        #expect(product.sku == "SKU-7")
        #expect(product.categoryID == 3)
        #expect(product.version == 4)
        #expect(product.name == "Lamp")
        #expect(product.price.description == "19.90")
        #expect(product.attributes["color"] == .string("red"))
    }

    @Test func assigningDocumentFieldsRecordsExactlyThose() {
        var product = sample()
        #expect(product.changedFields.isEmpty)
        product.name = "Desk lamp"
        product.price = Price("24.50")!
        #expect(product.changedFields == [.name, .price])
        let changes = product.pendingChanges
        #expect(changes.name == "Desk lamp")
        #expect(changes.price == Price("24.50"))
        #expect(changes.description == nil)
        #expect(changes.attributes == nil)
        #expect(changes.categoryID == nil)
    }

    @Test func mutatingACollectionFieldInPlaceRecordsIt() {
        var product = sample()
        product.images.append("https://i.example/2.jpg")
        product.attributes["size"] = .string("L")
        #expect(product.changedFields == [.images, .attributes])
        #expect(product.pendingChanges.images?.count == 2)
    }
}
