/// Fetches the documents for a set of rows in the chosen loading mode and joins them.
struct DocumentFetcher: Sendable {
    let mongo: MongoProductCollection
    let mode: LoadingMode

    /// Joins rows with their documents, keeping the rows' order. A row whose document is not in
    /// MongoDB yet (its outbox change still pending) is left out rather than shown half-made.
    func products(for rows: [ProductRow]) async throws -> [Product] {
        guard !rows.isEmpty else { return [] }
        let documents: [Int64: StoredDocument]
        do {
            switch mode {
            case .batch:
                documents = try await mongo.documents(ids: rows.map(\.id))
            case .perObject:
                var byID: [Int64: StoredDocument] = [:]
                for row in rows {
                    if let document = try await mongo.document(id: row.id) { byID[row.id] = document }
                }
                documents = byID
            }
        } catch let error as MongoError {
            throw error.hybridError
        }
        return rows.compactMap { row in
            documents[row.id].map { Product(row: row, document: $0.document) }
        }
    }
}
