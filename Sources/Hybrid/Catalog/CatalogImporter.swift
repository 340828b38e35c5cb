import Foundation
import Logging

/// Imports products in batches: from a JSON Lines file (streamed, never read whole) or from any
/// sequence of records (the seed generator).
public struct CatalogImporter: Sendable {
    public enum ErrorPolicy: String, Sendable, CaseIterable {
        /// Report the bad line and go on.
        case skip
        /// Stop at the first bad line.
        case abort
    }

    /// Where an import is, for progress displays.
    public struct Progress: Sendable {
        public var linesRead: Int
        public var imported: Int
        public var rejected: Int
        /// Bytes read of the file, or records generated.
        public var done: Int64
        /// File size, or records to generate.
        public var total: Int64
    }

    public struct Summary: Sendable {
        public var linesRead = 0
        public var imported = 0
        public var rejected = 0
        /// The first refused lines with reasons (at most 100 kept).
        public var errors: [ImportLineError] = []
        public var seconds: Double = 0
        /// Products whose cache invalidation could not be delivered (Redis down): a running
        /// gateway's outbox relay delivers them.
        public var invalidationsPending = 0
        public var rate: Double { seconds > 0 ? Double(imported) / seconds : 0 }
    }

    let writer: CatalogBatchWriter
    let batchSize: Int
    let policy: ErrorPolicy
    let progress: @Sendable (Progress) -> Void

    public init(
        catalog: HybridCatalog, invalidator: any TagInvalidator = NoCacheInvalidator(), batchSize: Int = 1000,
        policy: ErrorPolicy = .skip, progress: @escaping @Sendable (Progress) -> Void = { _ in }
    ) {
        self.writer = CatalogBatchWriter(catalog: catalog, invalidator: invalidator)
        self.batchSize = max(1, batchSize)
        self.policy = policy
        self.progress = progress
    }

    /// Imports a JSON Lines file.
    public func importFile(atPath path: String) async throws -> Summary {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CatalogImportError.unreadable(path: path, reason: "no such file or not readable")
        }
        defer { try? handle.close() }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        let decoder = ImportLineDecoder()
        var run = Run(importer: self, total: size)
        var pending: [UInt8] = []
        var lineNumber = 0
        var bytesRead: Int64 = 0
        while true {
            let chunk: Data
            do {
                chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            } catch {
                throw CatalogImportError.unreadable(path: path, reason: "\(error)")
            }
            let atEnd = chunk.isEmpty
            bytesRead += Int64(chunk.count)
            pending.append(contentsOf: chunk)
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                lineNumber += 1
                try await run.take(
                    line: pending[start..<newline], number: lineNumber, decoder: decoder, done: bytesRead)
                start = newline + 1
            }
            pending.removeSubrange(pending.startIndex..<start)
            if pending.count > ImportLineDecoder.maximumLineBytes {
                // Refuse the over-long line without holding it: skip to its end.
                lineNumber += 1
                try await run.reject(
                    ImportLineError(
                        line: lineNumber, reason: "the line is longer than \(ImportLineDecoder.maximumLineBytes) bytes")
                )
                while let more = try? handle.read(upToCount: 1 << 20), !more.isEmpty {
                    bytesRead += Int64(more.count)
                    if let newline = more.firstIndex(of: UInt8(ascii: "\n")) {
                        pending = Array(more[(newline + 1)...])
                        break
                    }
                }
            }
            if atEnd {
                if !pending.isEmpty {
                    lineNumber += 1
                    try await run.take(line: pending[...], number: lineNumber, decoder: decoder, done: bytesRead)
                }
                break
            }
        }
        return try await run.finish()
    }

    /// Imports records that are already decoded (the seed generator).
    public func importRecords(_ records: some Sequence<ImportRecord>, count: Int) async throws -> Summary {
        var run = Run(importer: self, total: Int64(count))
        var index = 0
        for record in records {
            index += 1
            do {
                try ProductValidation.validate(record.product)
            } catch let error as HybridError {
                try await run.reject(ImportLineError(line: index, reason: error.description))
                continue
            }
            try await run.add(record, line: index, done: Int64(index))
        }
        return try await run.finish()
    }

    /// The state of one import: the current batch and the counts.
    struct Run {
        let importer: CatalogImporter
        let total: Int64
        let started = ContinuousClock.now
        var summary = Summary()
        var batch: [(record: ImportRecord, line: Int)] = []
        var done: Int64 = 0
        var lastReport = ContinuousClock.now

        init(importer: CatalogImporter, total: Int64) {
            self.importer = importer
            self.total = total
            batch.reserveCapacity(importer.batchSize)
        }

        mutating func take(line: ArraySlice<UInt8>, number: Int, decoder: ImportLineDecoder, done: Int64) async throws {
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard line.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { return }
            do {
                let record = try decoder.decode(line, number: number)
                try await add(record, line: number, done: done)
            } catch let error as ImportLineError {
                try await reject(error)
            }
        }

        mutating func add(_ record: ImportRecord, line: Int, done: Int64) async throws {
            summary.linesRead += 1
            self.done = done
            batch.append((record, line))
            if batch.count >= importer.batchSize { try await flush() }
        }

        mutating func reject(_ error: ImportLineError) async throws {
            summary.linesRead += 1
            summary.rejected += 1
            if summary.errors.count < 100 { summary.errors.append(error) }
            importer.writer.catalog.logger.warning(
                "line refused", metadata: ["line": "\(error.line)", "reason": "\(error.reason)"])
            if importer.policy == .abort {
                try await flush()
                throw CatalogImportError.aborted(error)
            }
        }

        mutating func flush() async throws {
            guard !batch.isEmpty else { return }
            let current = batch
            batch.removeAll(keepingCapacity: true)
            do {
                summary.invalidationsPending += try await importer.writer.write(current.map(\.record))
                summary.imported += current.count
            } catch let error as HybridError {
                // A conflict inside the batch (a sku or slug taken by another id): write the lines
                // one by one to name the bad ones; the others still go in.
                guard current.count > 1 else {
                    try await reject(ImportLineError(line: current[0].line, reason: error.description))
                    return
                }
                for item in current {
                    do {
                        summary.invalidationsPending += try await importer.writer.write([item.record])
                        summary.imported += 1
                    } catch let error as HybridError {
                        try await reject(ImportLineError(line: item.line, reason: error.description))
                    }
                }
            }
            report(force: false)
        }

        mutating func report(force: Bool) {
            let now = ContinuousClock.now
            guard force || now - lastReport >= .milliseconds(200) else { return }
            lastReport = now
            importer.progress(
                Progress(
                    linesRead: summary.linesRead, imported: summary.imported, rejected: summary.rejected, done: done,
                    total: total))
        }

        mutating func finish() async throws -> Summary {
            try await flush()
            try await importer.writer.advanceSequences()
            done = total
            report(force: true)
            let elapsed = ContinuousClock.now - started
            summary.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return summary
        }
    }
}
