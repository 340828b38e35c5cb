/// A product of the hybrid model: the relational row and the document as one value.
///
/// Member access reaches either part (`product.sku` reads the row, `product.name` the
/// document), the Swift counterpart of the descriptors that made a MongoDB field look like a
/// model attribute. Assigning a document field records it, so a save `$set`s only what changed.
@dynamicMemberLookup
public struct Product: Sendable, Hashable {
    public private(set) var row: ProductRow
    public private(set) var document: ProductDocument
    /// Document fields assigned since the value was loaded or saved.
    public private(set) var changedFields: Set<ProductDocument.Field> = []

    public init(row: ProductRow, document: ProductDocument) {
        self.row = row
        self.document = document
    }

    public subscript<Value>(dynamicMember keyPath: KeyPath<ProductRow, Value>) -> Value {
        row[keyPath: keyPath]
    }

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<ProductDocument, Value>) -> Value {
        get { document[keyPath: keyPath] }
        set {
            document[keyPath: keyPath] = newValue
            changedFields.insert(ProductDocument.field(for: keyPath))
        }
    }

    /// The recorded document changes as a partial update.
    public var pendingChanges: ProductChanges {
        var changes = ProductChanges()
        for field in changedFields {
            switch field {
            case .name: changes.name = document.name
            case .description: changes.description = document.description
            case .price: changes.price = document.price
            case .currency: changes.currency = document.currency
            case .attributes: changes.attributes = document.attributes
            case .images: changes.images = document.images
            }
        }
        return changes
    }
}
