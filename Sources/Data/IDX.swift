import Foundation

/// MNIST's IDX format (Fashion-MNIST uses it too): a big-endian magic number whose last byte
/// is the number of dimensions and whose third byte is the type (0x08 = unsigned byte),
/// one big-endian 32-bit extent per dimension, then the data.
enum IDX {
    /// Returns the extents and the bytes after the header, checking magic, type and size.
    static func parse(_ bytes: [UInt8], path: String, dimensions: Int) throws -> (extents: [Int], data: ArraySlice<UInt8>) {
        guard bytes.count >= 4 else { throw DataError(path, "file is \(bytes.count) bytes, too short for an IDX header") }
        func word(_ at: Int) -> Int {
            Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        let magic = word(0)
        let expected = 0x0800 | dimensions
        guard magic == expected else {
            throw DataError(path, String(format: "IDX magic number is 0x%08x, expected 0x%08x (unsigned bytes, %d dimensions)",
                                         magic, expected, dimensions))
        }
        let headerSize = 4 + 4 * dimensions
        guard bytes.count >= headerSize else { throw DataError(path, "IDX header is truncated") }
        let extents = (0..<dimensions).map { word(4 + 4 * $0) }
        let needed = extents.reduce(1, *)
        guard bytes.count - headerSize == needed else {
            throw DataError(path, "IDX header promises \(extents.map(String.init).joined(separator: "x")) = \(needed) bytes of data, "
                                + "the file holds \(bytes.count - headerSize) (truncated or mis-sized)")
        }
        return (extents, bytes[headerSize...])
    }
}
