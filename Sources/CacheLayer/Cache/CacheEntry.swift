import NIOCore

/// What the cache stores under a key: a small header, then the payload bytes as given.
///
/// Layout (big-endian): magic `GW` (2), format 2 (1), flags (1), stored-at ms (8), soft expiry ms
/// (8), load time ms (4), tag count (2), then per tag its hard and soft generation (8 + 8), then
/// the dependency count (2) and each dependency tag as length (2) + UTF-8, then the payload. A hit slices the payload out of the buffer Redis returned; nothing is decoded or copied.
public struct CacheEntry: Sendable, Hashable {
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// A cached "not found".
        public static let negative = Flags(rawValue: 1)
    }

    public var flags: Flags
    public var storedAt: Int64
    public var softExpiry: Int64
    /// How long the load took: XFetch refreshes slow-to-load entries earlier.
    public var loadMilliseconds: UInt32
    /// Hard and soft generation of each tag when the load began, in the order of the tags.
    public var generations: [Generation]
    /// The dependency tags (`slot#name`) of what the payload shows: for the near-cache's index.
    public var dependencies: [String]
    public var payload: ByteBuffer

    public struct Generation: Sendable, Hashable {
        public var hard: Int64
        public var soft: Int64
        public init(hard: Int64, soft: Int64) {
            self.hard = hard
            self.soft = soft
        }
    }

    public init(
        flags: Flags = [], storedAt: Int64, softExpiry: Int64, loadMilliseconds: UInt32 = 0, generations: [Generation],
        dependencies: [String] = [], payload: ByteBuffer
    ) {
        self.flags = flags
        self.storedAt = storedAt
        self.softExpiry = softExpiry
        self.loadMilliseconds = loadMilliseconds
        self.generations = generations
        self.dependencies = dependencies
        self.payload = payload
    }

    static let magic: (UInt8, UInt8) = (UInt8(ascii: "G"), UInt8(ascii: "W"))
    static let format: UInt8 = 2

    /// The stored form; `nil` for an entry with more tags or dependencies than the format counts
    /// (65,535), or a dependency longer than that.
    public func encoded() -> ByteBuffer? {
        guard let tagCount = UInt16(exactly: generations.count),
            let dependencyCount = UInt16(exactly: dependencies.count),
            dependencies.allSatisfy({ $0.utf8.count <= Int(UInt16.max) })
        else { return nil }
        var buffer = ByteBufferAllocator().buffer(capacity: 34 + generations.count * 16 + payload.readableBytes)
        buffer.writeInteger(Self.magic.0)
        buffer.writeInteger(Self.magic.1)
        buffer.writeInteger(Self.format)
        buffer.writeInteger(flags.rawValue)
        buffer.writeInteger(storedAt)
        buffer.writeInteger(softExpiry)
        buffer.writeInteger(loadMilliseconds)
        buffer.writeInteger(tagCount)
        for generation in generations {
            buffer.writeInteger(generation.hard)
            buffer.writeInteger(generation.soft)
        }
        buffer.writeInteger(dependencyCount)
        for dependency in dependencies {
            buffer.writeInteger(UInt16(truncatingIfNeeded: dependency.utf8.count))
            buffer.writeString(dependency)
        }
        var payload = payload
        buffer.writeBuffer(&payload)
        return buffer
    }

    /// Reads an entry; `nil` for anything that is not one (another format, a truncated value).
    public init?(decoding buffer: ByteBuffer) {
        var buffer = buffer
        guard let m0 = buffer.readInteger(as: UInt8.self), let m1 = buffer.readInteger(as: UInt8.self),
            m0 == Self.magic.0, m1 == Self.magic.1, buffer.readInteger(as: UInt8.self) == Self.format,
            let flags = buffer.readInteger(as: UInt8.self), let storedAt = buffer.readInteger(as: Int64.self),
            let softExpiry = buffer.readInteger(as: Int64.self), let load = buffer.readInteger(as: UInt32.self),
            let count = buffer.readInteger(as: UInt16.self), buffer.readableBytes >= Int(count) * 16
        else { return nil }
        var generations: [Generation] = []
        generations.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let hard = buffer.readInteger(as: Int64.self), let soft = buffer.readInteger(as: Int64.self) else {
                return nil
            }
            generations.append(Generation(hard: hard, soft: soft))
        }
        guard let dependencyCount = buffer.readInteger(as: UInt16.self) else { return nil }
        var dependencies: [String] = []
        dependencies.reserveCapacity(Int(dependencyCount))
        for _ in 0..<dependencyCount {
            guard let length = buffer.readInteger(as: UInt16.self), let text = buffer.readString(length: Int(length))
            else { return nil }
            dependencies.append(text)
        }
        self.flags = Flags(rawValue: flags)
        self.storedAt = storedAt
        self.softExpiry = softExpiry
        self.loadMilliseconds = load
        self.generations = generations
        self.dependencies = dependencies
        self.payload = buffer
    }

    /// An entry with more tags than the format can count.
    struct TooManyTags: Error {}
    /// Dependencies outside the entry's slot, or without the sequence read before the load.
    struct UnfencedDependencies: Error {}
}
