import CZlib
import Foundation

/// A PNG read as one integer per pixel, as a segmentation mask stores class indices: grey
/// (1–16 bits) gives the grey value, palette ("P" mode, as Pascal VOC ships its masks) gives
/// the palette index, not its colour. libpng's simplified reader always expands a palette to
/// colours, hence this small decoder (zlib for the inflate).
public enum IndexedPNG {
    public struct Mask: Sendable {
        public var width: Int, height: Int
        public var values: [Int32]
    }

    public static func decode(file path: String) throws -> Mask {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(path, FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "file not found")
        }
        return try decode([UInt8](data), path: path)
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> Mask {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw DataError(path, "a mask must be a PNG file") }
        func be32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        var p = 8
        var header: (width: Int, height: Int, depth: Int, colour: Int, interlace: Int)?
        var compressed: [UInt8] = []
        var ended = false
        while p + 12 <= bytes.count {
            let length = be32(p)
            guard length >= 0, p + 12 + length <= bytes.count else { break }
            let type = String(decoding: bytes[(p + 4)..<(p + 8)], as: UTF8.self)
            let crc = bytes[(p + 4)..<(p + 8 + length)].withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            guard crc == UInt(be32(p + 8 + length)) else { throw DataError(path, "damaged PNG (the \(type) chunk's checksum does not match)") }
            let body = p + 8
            switch type {
            case "IHDR" where length >= 13:
                header = (be32(body), be32(body + 4), Int(bytes[body + 8]), Int(bytes[body + 9]), Int(bytes[body + 12]))
            case "IDAT": compressed += bytes[body..<(body + length)]
            case "IEND": ended = true
            default: break
            }
            if ended { break }
            p += 12 + length
        }
        guard let header, header.width > 0, header.height > 0 else { throw DataError(path, "damaged PNG (no image header)") }
        guard ended else { throw DataError(path, "truncated PNG (no IEND chunk)") }
        let samplesPerPixel: Int
        switch header.colour {
        case 0, 3: samplesPerPixel = 1
        case 2, 6: throw DataError(path, "a colour (RGB) mask; masks hold one class index per pixel: a grey or palette PNG")
        case 4: throw DataError(path, "a grey mask with alpha; save it without the alpha channel")
        default: throw DataError(path, "damaged PNG (colour type \(header.colour))")
        }
        guard header.interlace == 0 else { throw DataError(path, "an interlaced PNG mask; save it without interlacing") }
        guard [1, 2, 4, 8, 16].contains(header.depth), header.colour == 0 || header.depth <= 8 else {
            throw DataError(path, "damaged PNG (bit depth \(header.depth))")
        }
        let (width, height, depth) = (header.width, header.height, header.depth)
        let rowBytes = (width * samplesPerPixel * depth + 7) / 8
        var raw = [UInt8](repeating: 0, count: height * (rowBytes + 1))
        var rawCount = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in
            compressed.withUnsafeBufferPointer { uncompress(out.baseAddress, &rawCount, $0.baseAddress, uLong($0.count)) }
        }
        guard status == Z_OK, Int(rawCount) == raw.count else { throw DataError(path, "damaged or truncated PNG (image data does not inflate)") }
        try unfilter(&raw, rowBytes: rowBytes, rows: height, bytesPerPixel: max(1, depth / 8), path: path)
        var values = [Int32](repeating: 0, count: width * height)
        for y in 0..<height {
            let row = y * (rowBytes + 1) + 1
            for x in 0..<width {
                switch depth {
                case 16: values[y * width + x] = Int32(raw[row + 2 * x]) << 8 | Int32(raw[row + 2 * x + 1])
                case 8: values[y * width + x] = Int32(raw[row + x])
                default:
                    let bit = x * depth
                    let byte = raw[row + bit / 8]
                    values[y * width + x] = Int32(byte >> UInt8(8 - depth - bit % 8)) & Int32((1 << depth) - 1)
                }
            }
        }
        return Mask(width: width, height: height, values: values)
    }

    /// Undoes PNG's per-row filters (None, Sub, Up, Average, Paeth) in place.
    static func unfilter(_ raw: inout [UInt8], rowBytes: Int, rows: Int, bytesPerPixel bpp: Int, path: String) throws {
        try raw.withUnsafeMutableBufferPointer { buffer in
            let b = buffer.baseAddress!
            for y in 0..<rows {
                let filter = b[y * (rowBytes + 1)]
                let row = b + y * (rowBytes + 1) + 1
                let above: UnsafeMutablePointer<UInt8>? = y > 0 ? row - (rowBytes + 1) : nil
                for i in 0..<rowBytes {
                    let a = i >= bpp ? Int(row[i - bpp]) : 0
                    let up = above.map { Int($0[i]) } ?? 0
                    let corner = i >= bpp ? above.map { Int($0[i - bpp]) } ?? 0 : 0
                    let predictor: Int
                    switch filter {
                    case 0: predictor = 0
                    case 1: predictor = a
                    case 2: predictor = up
                    case 3: predictor = (a + up) / 2
                    case 4:
                        let estimate = a + up - corner
                        let (pa, pb, pc) = (abs(estimate - a), abs(estimate - up), abs(estimate - corner))
                        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? up : corner
                    default: throw DataError(path, "damaged PNG (row filter \(filter))")
                    }
                    row[i] = UInt8(truncatingIfNeeded: Int(row[i]) + predictor)
                }
            }
        }
    }
}
