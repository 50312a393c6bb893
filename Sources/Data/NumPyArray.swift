import Foundation
import Kernels

/// One array in NumPy's `.npy` format (version 1, 2 or 3 headers), read in place from a mapped
/// file or an `.npz` member. Only what can be read without reinterpretation is accepted:
/// little-endian (or single-byte) integers and floats, C order; anything else is an error
/// naming the file and the reason.
public struct NumPyArray: @unchecked Sendable {
    public enum Element: String, Sendable {
        case int8, uint8, int16, uint16, int32, uint32, int64, uint64, float16, float32, float64

        var size: Int {
            switch self {
            case .int8, .uint8: 1
            case .int16, .uint16, .float16: 2
            case .int32, .uint32, .float32: 4
            case .int64, .uint64, .float64: 8
            }
        }
        public var isInteger: Bool { ![.float16, .float32, .float64].contains(self) }
    }

    /// Where it came from, for messages: a path, or `archive.npz: member`.
    public let name: String
    public let shape: [Int]
    public let element: Element
    public var count: Int { shape.reduce(1, *) }
    /// The elements (exactly `count · element.size` bytes).
    let data: UnsafeRawBufferPointer
    /// Keeps the mapping or the inflated buffer alive.
    let owner: AnyObject

    /// The array of a `.npy` file.
    public init(path: String) throws {
        let file = try MappedFile(path)
        try self.init(bytes: file.bytes, name: path, owner: file)
    }

    init(bytes: UnsafeRawBufferPointer, name: String, owner: AnyObject) throws {
        self.name = name; self.owner = owner
        func fail(_ problem: String) -> DataError { DataError(name, problem) }
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not a NumPy .npy file (no \\x93NUMPY magic)") }
        let major = bytes[6]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1: headerStart = 10; headerLength = Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self).littleEndian)
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerStart = 12; headerLength = Int(bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
        default: throw fail(".npy format version \(major).\(bytes[7]) (versions 1 to 3 are read)")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("truncated header") }
        let header = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[headerStart..<(headerStart + headerLength)]), as: UTF8.self)
        let fields = try NumPyHeader(header, name: name)
        element = try fields.element()
        shape = fields.shape
        guard !fields.fortranOrder else {
            throw fail("stored in Fortran (column-major) order; save it in C order (np.ascontiguousarray) to read it here")
        }
        let start = headerStart + headerLength
        let expected = shape.reduce(1, *) * element.size
        guard bytes.count - start >= expected else {
            throw fail("truncated: \(bytes.count - start) bytes of data for shape \(shape) of \(element.rawValue) (\(expected) expected)")
        }
        data = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + expected)])
    }

    /// Element `i` (flat, C order) as a float.
    @inline(__always)
    public func float(_ i: Int) -> Float {
        let at = i * element.size
        switch element {
        case .uint8: return Float(data.load(fromByteOffset: at, as: UInt8.self))
        case .float32: return Float(bitPattern: data.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian)
        case .float16: return Float(Float16(bitPattern: data.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian))
        case .float64: return Float(Double(bitPattern: data.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian))
        default: return Float(integer(i))
        }
    }

    /// Element `i` of an integer array.
    @inline(__always)
    public func integer(_ i: Int) -> Int64 {
        let at = i * element.size
        switch element {
        case .int8: return Int64(data.load(fromByteOffset: at, as: Int8.self))
        case .uint8: return Int64(data.load(fromByteOffset: at, as: UInt8.self))
        case .int16: return Int64(Int16(littleEndian: data.loadUnaligned(fromByteOffset: at, as: Int16.self)))
        case .uint16: return Int64(UInt16(littleEndian: data.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
        case .int32: return Int64(Int32(littleEndian: data.loadUnaligned(fromByteOffset: at, as: Int32.self)))
        case .uint32: return Int64(UInt32(littleEndian: data.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
        case .int64: return Int64(littleEndian: data.loadUnaligned(fromByteOffset: at, as: Int64.self))
        case .uint64: return Int64(truncatingIfNeeded: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
        case .float16, .float32, .float64: return Int64(float(i))
        }
    }
}

/// The header's Python literal: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
struct NumPyHeader {
    let descr: String
    let fortranOrder: Bool
    let shape: [Int]
    let name: String

    init(_ text: String, name: String) throws {
        self.name = name
        func value(of key: String) throws -> Substring {
            guard let range = text.range(of: "'\(key)':") else { throw DataError(name, "the header has no '\(key)' (not a .npy header: \(text))") }
            return text[range.upperBound...].drop { $0 == " " }
        }
        let descrText = try value(of: "descr")
        guard descrText.first == "'", let close = descrText.dropFirst().firstIndex(of: "'") else {
            throw DataError(name, "a structured array (descr \(descrText.prefix { $0 != "]" })]); only plain numeric arrays are read")
        }
        descr = String(descrText[descrText.index(after: descrText.startIndex)..<close])
        let orderText = try value(of: "fortran_order")
        if orderText.hasPrefix("False") { fortranOrder = false } else if orderText.hasPrefix("True") { fortranOrder = true } else {
            throw DataError(name, "cannot read fortran_order in the header: \(text)")
        }
        let shapeText = try value(of: "shape")
        guard shapeText.first == "(", let end = shapeText.firstIndex(of: ")") else { throw DataError(name, "cannot read the shape in the header: \(text)") }
        let parts = shapeText[shapeText.index(after: shapeText.startIndex)..<end].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for part in parts {
            // Python 2 wrote long extents as 123L.
            guard let extent = Int(part.hasSuffix("L") ? String(part.dropLast()) : part), extent >= 0 else {
                throw DataError(name, "cannot read the shape in the header: \(text)")
            }
            shape.append(extent)
        }
        self.shape = shape
    }

    func element() throws -> NumPyArray.Element {
        guard descr.count >= 2 else { throw DataError(name, "unknown dtype '\(descr)'") }
        let order = descr.first!, code = descr.dropFirst()
        let kinds: [String: NumPyArray.Element] = [
            "i1": .int8, "u1": .uint8, "i2": .int16, "u2": .uint16, "i4": .int32, "u4": .uint32, "i8": .int64, "u8": .uint64,
            "f2": .float16, "f4": .float32, "f8": .float64,
        ]
        if code.first == "O" { throw DataError(name, "an object array (dtype '\(descr)'): it holds Python objects, not numbers; save a numeric array") }
        guard let element = kinds[String(code)] else {
            throw DataError(name, "dtype '\(descr)' is not read (integers, float16, float32 and float64 are)")
        }
        switch order {
        case "<", "|": break
        case "=": break  // native order, which NumPy writes only on this (little-endian) kind of machine
        case ">" where element.size == 1: break
        case ">": throw DataError(name, "big-endian data (dtype '\(descr)'); convert it with arr.astype(arr.dtype.newbyteorder('<')) before saving")
        default: throw DataError(name, "unknown dtype '\(descr)'")
        }
        return element
    }
}
