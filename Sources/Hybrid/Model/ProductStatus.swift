/// Where a product is in its life: only `active` products appear on the storefront.
public enum ProductStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case active
    case draft
    case archived
}
