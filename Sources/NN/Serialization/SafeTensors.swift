import Autograd
import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping
/// each name to `dtype`, `shape` and `data_offsets` (relative to the data that follows),
/// an optional `__metadata__` string map, then the raw little-endian bytes.
public enum SafeTensors {
    public enum DType: String, Sendable, CaseIterable {
        case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL
        public var size: Int {
            switch self {
            case .F64, .I64: 8
            case .F32, .I32: 4
            case .F16, .BF16, .I16: 2
            case .I8, .U8, .BOOL: 1
            }
        }
    }

    public struct Entry {
        public var name: String
        public var tensor: Tensor
        /// The type on disk; values are always Float32 in memory.
        public var dtype: DType
        public init(name: String, tensor: Tensor, dtype: DType = .F32) {
            self.name = name; self.tensor = tensor; self.dtype = dtype
        }
    }

    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
        init(_ source: String, _ message: String) { description = "\(source): \(message)" }
    }

    // MARK: reading

    public static func read(contentsOf path: String) throws -> (entries: [Entry], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path, "cannot read the file (missing or unreadable)")
        }
        return try decode([UInt8](data), source: path)
    }

    /// Parses a whole file image; every inconsistency is a thrown `FormatError`.
    public static func decode(_ bytes: [UInt8], source: String = "safetensors") throws -> (entries: [Entry], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw FormatError(source, "file is \(bytes.count) bytes, shorter than the 8-byte header length") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw FormatError(source, "header length \(headerLength) runs past the end of the \(bytes.count)-byte file (truncated?)")
        }
        let headerEnd = 8 + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw FormatError(source, "header is not valid JSON")
        }
        guard let header = json as? [String: Any] else { throw FormatError(source, "header is not a JSON object") }
        let dataSize = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var entries: [(begin: Int, entry: Entry)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: String] else { throw FormatError(source, "__metadata__ must map strings to strings") }
                metadata = map
                continue
            }
            guard let info = value as? [String: Any] else { throw FormatError(source, "entry '\(name)' is not an object") }
            guard let dtypeName = info["dtype"] as? String, let dtype = DType(rawValue: dtypeName) else {
                throw FormatError(source, "entry '\(name)' has unknown dtype \(String(describing: info["dtype"] ?? "none"))")
            }
            guard let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  shape.count == (info["shape"] as? [Any])?.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw FormatError(source, "entry '\(name)' has no valid shape")
            }
            guard let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2 else {
                throw FormatError(source, "entry '\(name)' has no valid data_offsets")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw FormatError(source, "entry '\(name)' has data_offsets [\(begin), \(end)] outside the \(dataSize) data bytes")
            }
            let count = shape.reduce(1, *)
            guard end - begin == count * dtype.size else {
                throw FormatError(source, "entry '\(name)' holds \(end - begin) bytes, but \(dtype) \(shape) needs \(count * dtype.size)")
            }
            let tensor = Tensor(uninitialized: shape)
            bytes.withUnsafeBufferPointer { all in
                convert(UnsafeRawPointer(all.baseAddress! + headerEnd + begin), dtype: dtype, count: count, into: tensor.pointer)
            }
            entries.append((begin, Entry(name: name, tensor: tensor, dtype: dtype)))
        }
        // File order, which is how writers lay tensors out.
        return (entries.sorted { ($0.begin, $0.entry.name) < ($1.begin, $1.entry.name) }.map(\.entry), metadata)
    }

    static func convert(_ raw: UnsafeRawPointer, dtype: DType, count: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let p = raw + i * dtype.size
            switch dtype {
            case .F32: out[i] = Float(bitPattern: p.loadUnaligned(as: UInt32.self).littleEndian)
            case .F64: out[i] = Float(Double(bitPattern: p.loadUnaligned(as: UInt64.self).littleEndian))
            case .F16: out[i] = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
            case .BF16: out[i] = Float(bitPattern: UInt32(p.loadUnaligned(as: UInt16.self).littleEndian) << 16)
            case .I64: out[i] = Float(Int64(littleEndian: p.loadUnaligned(as: Int64.self)))
            case .I32: out[i] = Float(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
            case .I16: out[i] = Float(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
            case .I8: out[i] = Float(p.load(as: Int8.self))
            case .U8, .BOOL: out[i] = Float(p.load(as: UInt8.self))
            }
        }
    }

    /// IEEE half → single, including subnormals, infinities and NaN.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
    }

    // MARK: writing

    /// The raw tensor bytes of a file, after its header (what a checksum covers).
    public static func dataSection(of bytes: [UInt8]) -> ArraySlice<UInt8>? {
        guard bytes.count >= 8 else { return nil }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(bytes.count - 8) else { return nil }
        return bytes[(8 + Int(headerLength))...]
    }

    /// Lays the file out as PyTorch's writer does: header padded with spaces to a multiple of
    /// 8 bytes, tensors in the given order, each 8-byte aligned. F32 and I64 only.
    /// `metadataFromData` may add metadata computed from the tensor bytes (a checksum).
    public static func encode(_ entries: [Entry], metadata: [String: String] = [:],
                              metadataFromData: (([UInt8]) -> [String: String])? = nil) -> [UInt8] {
        var data = [UInt8]()
        data.reserveCapacity(entries.reduce(0) { $0 + $1.tensor.count * $1.dtype.size })
        for e in entries {
            precondition(e.dtype == .F32 || e.dtype == .I64, "safetensors: writing \(e.dtype) is not supported")
            let p = e.tensor.pointer
            if e.dtype == .I64 {
                for i in 0..<e.tensor.count { withUnsafeBytes(of: Int64(p[i].rounded()).littleEndian) { data += $0 } }
            } else {
                data += UnsafeRawBufferPointer(start: p, count: e.tensor.count * 4)  // little-endian hosts only
            }
        }
        let metadata = metadata.merging(metadataFromData?(data) ?? [:]) { _, new in new }
        var header: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            header.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for e in entries {
            let size = e.tensor.count * e.dtype.size
            header.append("\(jsonString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(e.tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var headerBytes = Array("{\(header.joined(separator: ","))}".utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + headerBytes.count + data.count)
        let length = UInt64(headerBytes.count)
        for i in 0..<8 { out.append(UInt8((length >> (8 * UInt64(i))) & 0xFF)) }
        out += headerBytes
        out += data
        return out
    }

    /// Writes through `AtomicFile`, so a crash never leaves half a file.
    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to path: String) throws {
        do {
            try AtomicFile.write(encode(entries, metadata: metadata), to: path)
        } catch {
            throw FormatError(path, "cannot write: \(error)")
        }
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
