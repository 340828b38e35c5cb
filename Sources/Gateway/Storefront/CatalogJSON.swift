import Foundation
import Hybrid

/// The storefront's JSON representations, written once per cache fill.
public enum CatalogJSON {
    public static func page(_ page: CategoryPage) -> [UInt8] {
        var writer = JSONWriter(capacity: 512 + page.items.count * 600)
        writer.beginObject()
        writer.key("category_id")
        writer.int(page.categoryID)
        writer.key("page")
        writer.int(Int64(page.page))
        writer.key("per_page")
        writer.int(Int64(page.perPage))
        writer.key("sort")
        writer.string(page.sort.rawValue)
        writer.key("total")
        writer.int(page.total)
        writer.key("page_count")
        writer.int(page.pageCount)
        writer.key("items")
        writer.beginArray()
        for item in page.items { listingItem(item, into: &writer) }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }

    public static func product(_ product: Product) -> [UInt8] {
        var writer = JSONWriter(capacity: 1024)
        detail(product, into: &writer)
        return writer.bytes
    }

    /// A multi-get: the products found, in the order asked, and the ids not found.
    public static func products(_ found: [Int64: Product], ids: [Int64]) -> [UInt8] {
        var writer = JSONWriter(capacity: 256 + found.count * 900)
        writer.beginObject()
        writer.key("items")
        writer.beginArray()
        for id in ids { if let product = found[id] { detail(product, into: &writer) } }
        writer.endArray()
        writer.key("missing")
        writer.beginArray()
        for id in ids where found[id] == nil { writer.int(id) }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }

    public static func categories(_ categories: [Hybrid.Category]) -> [UInt8] {
        var writer = JSONWriter(capacity: 128 + categories.count * 128)
        writer.beginObject()
        writer.key("items")
        writer.beginArray()
        for category in categories {
            writer.beginObject()
            categoryFields(category, into: &writer)
            writer.key("product_count")
            writer.int(category.productCount ?? 0)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }

    /// The fields every representation of a category has.
    static func categoryFields(_ category: Hybrid.Category, into writer: inout JSONWriter) {
        writer.key("id")
        writer.int(category.id)
        writer.key("slug")
        writer.string(category.slug)
        writer.key("name")
        writer.string(category.name)
        writer.key("parent_id")
        if let parent = category.parentID { writer.int(parent) } else { writer.null() }
    }

    static func listingItem(_ product: Product, into writer: inout JSONWriter) {
        writer.beginObject()
        commonFields(product, into: &writer)
        writer.endObject()
    }

    static func detail(_ product: Product, into writer: inout JSONWriter) {
        writer.beginObject()
        commonFields(product, into: &writer)
        writer.key("description")
        writer.string(product.description)
        writer.key("category_id")
        writer.int(product.categoryID)
        writer.key("status")
        writer.string(product.status.rawValue)
        writer.key("updated_at")
        writer.string(timestamp(product.updatedAt))
        writer.key("version")
        writer.int(product.version)
        writer.endObject()
    }

    private static func commonFields(_ product: Product, into writer: inout JSONWriter) {
        writer.key("id")
        writer.int(product.id)
        writer.key("sku")
        writer.string(product.sku)
        writer.key("name")
        writer.string(product.name)
        writer.key("price")
        writer.string(product.price.description)
        writer.key("currency")
        writer.string(product.currency)
        writer.key("attributes")
        writer.value(.object(product.attributes))
        writer.key("images")
        writer.beginArray()
        for image in product.images { writer.string(image) }
        writer.endArray()
        writer.key("created_at")
        writer.string(timestamp(product.createdAt))
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
