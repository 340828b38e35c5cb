/// Failures of the hybrid model a caller can act on.
public enum HybridError: Error, Sendable, Equatable, CustomStringConvertible {
    case productNotFound(Int64)
    case categoryNotFound(Int64)
    /// `If-Match` named another version than the stored one.
    case versionConflict(id: Int64, expected: Int64, current: Int64)
    case duplicateSKU(String)
    case duplicateSlug(String)
    case categoryNotEmpty(Int64)
    case invalidInput(String)
    case postgresUnavailable(String)
    case mongoUnavailable(String)
    case mongoFailed(String)
    case migrationFailed(version: Int, reason: String)
    case deadLetterNotFound(Int64)
    /// Creating an entity whose id is taken.
    case duplicateID(entity: String, id: Int64)

    public var description: String {
        switch self {
        case .productNotFound(let id): "product \(id) does not exist"
        case .categoryNotFound(let id): "category \(id) does not exist"
        case .versionConflict(let id, let expected, let current) where expected == current:
            "id \(id) is at version \(current), which If-Match does not name: reload it and apply the change again"
        case .versionConflict(let id, let expected, let current):
            "id \(id) is at version \(current), not \(expected): reload it and apply the change again"
        case .duplicateSKU(let sku): "another product already has sku '\(sku)' (field 'sku')"
        case .duplicateSlug(let slug): "another category already has slug '\(slug)' (field 'slug')"
        case .categoryNotEmpty(let id): "category \(id) still has products"
        case .invalidInput(let reason): reason
        case .postgresUnavailable(let reason): "PostgreSQL is unavailable: \(reason)"
        case .mongoUnavailable(let reason): "MongoDB is unavailable: \(reason)"
        case .mongoFailed(let reason): "MongoDB rejected the operation: \(reason)"
        case .migrationFailed(let version, let reason): "migration \(version) failed: \(reason)"
        case .deadLetterNotFound(let id): "there is no dead letter \(id)"
        case .duplicateID(let entity, let id): "a \(entity) with id \(id) already exists (field 'id')"
        }
    }
}
