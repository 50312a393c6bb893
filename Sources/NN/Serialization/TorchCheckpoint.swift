import Autograd
import Foundation
import Kernels

/// PyTorch's own checkpoint files, as `torch.save` writes them since 1.6: a zip archive of
/// `<name>/data.pkl` (the pickled object) and `<name>/data/<key>` (one raw little-endian storage
/// per key). The pickle goes through `RestrictedUnpickler`, so only state dicts are read: a plain
/// one, or one under `state_dict` or `model` as training scripts save them. Every tensor comes
/// back as float32 (fp16, bf16, fp64 and integer storages converted), contiguous, honouring its
/// storage offset and strides.
public enum TorchCheckpoint {
    public static func isTorchFile(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)).map { [UInt8]($0) == [0x50, 0x4B, 0x03, 0x04] } ?? false
    }

    public static func read(_ path: String) throws -> [(name: String, tensor: Tensor)] {
        let file = try MappedFile(path)
        if file.bytes.count >= 2, file.bytes[0] == 0x80, file.bytes[1] == 0x02 {
            throw FileFormatError(path, "written in torch.save's legacy (pre-1.6) format; load and save it again with a current PyTorch")
        }
        let archive = try ZipArchive(file)
        guard let pickle = archive.members.keys.filter({ $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }).min() else {
            throw FileFormatError(path, "not a PyTorch checkpoint (no data.pkl in the archive)")
        }
        let root = String(pickle.dropLast("data.pkl".count))
        func copy(_ member: String) throws -> [UInt8] {
            let data = try archive.contents(member)
            return withExtendedLifetime(data) { Array(data.bytes) }
        }
        if archive.members["\(root)byteorder"] != nil, String(decoding: try copy("\(root)byteorder"), as: UTF8.self) != "little" {
            throw FileFormatError(path, "a big-endian checkpoint")
        }
        let object = try RestrictedUnpickler.load(try copy(pickle), source: path)
        var tensors: [(name: String, tensor: Tensor)] = []
        for (key, value) in try stateDict(in: object, path: path) {
            guard let name = key.asString else { throw FileFormatError(path, "a state dict key that is not a string") }
            guard case .tensor(let reference) = value else { continue }
            tensors.append((name, try tensor(reference, named: name, archive: archive, root: root, path: path)))
        }
        guard !tensors.isEmpty else { throw FileFormatError(path, "holds no tensors") }
        return tensors
    }

    /// The state dict: the object itself, or its `state_dict` or `model` entry.
    static func stateDict(in object: PickleValue, path: String) throws -> [(key: PickleValue, value: PickleValue)] {
        guard case .dict(let items) = object else { throw FileFormatError(path, "does not hold a dict of tensors") }
        for wrapper in ["state_dict", "model"] {
            if let inner = items.first(where: { $0.key.asString == wrapper })?.value, case .dict(let state) = inner { return state }
        }
        guard items.contains(where: { if case .tensor = $0.value { return true } else { return false } }) else {
            let keys = items.compactMap { $0.key.asString }.prefix(8).joined(separator: ", ")
            throw FileFormatError(path, "no tensors at the top level, nor under state_dict or model (keys: \(keys))")
        }
        return items
    }

    enum Storage: String {
        case float = "torch.FloatStorage", double = "torch.DoubleStorage", half = "torch.HalfStorage"
        case bfloat16 = "torch.BFloat16Storage", long = "torch.LongStorage", int = "torch.IntStorage"
        case short = "torch.ShortStorage", char = "torch.CharStorage", byte = "torch.ByteStorage", bool = "torch.BoolStorage"

        var size: Int {
            switch self {
            case .double, .long: 8
            case .float, .int: 4
            case .half, .bfloat16, .short: 2
            case .char, .byte, .bool: 1
            }
        }
    }

    static func tensor(_ r: TorchTensorReference, named name: String, archive: ZipArchive, root: String, path: String) throws -> Tensor {
        guard let kind = Storage(rawValue: r.storageType) else { throw FileFormatError(path, "\(name): storage type \(r.storageType)") }
        let member = try archive.contents("\(root)data/\(r.storageKey)")
        let storage = member.bytes
        let elements = storage.count / kind.size
        let result = Tensor(zeros: r.size)
        let count = r.size.reduce(1, *)
        guard count > 0 else { return result }
        guard r.size.allSatisfy({ $0 >= 0 }), r.offset >= 0,
              r.offset + zip(r.size, r.stride).reduce(0, { $0 + ($1.0 - 1) * max($1.1, 0) }) < elements,
              r.stride.allSatisfy({ $0 >= 0 }) else {
            throw FileFormatError(path, "\(name): shape \(r.size) with strides \(r.stride) from offset \(r.offset) reaches past its storage of \(elements) elements")
        }
        withExtendedLifetime(member) {
            let out = result.pointer
            var index = [Int](repeating: 0, count: r.size.count)
            for flat in 0..<count {
                var at = r.offset
                for d in 0..<index.count { at += index[d] * r.stride[d] }
                out[flat] = value(storage, at, kind)
                var d = index.count - 1
                while d >= 0 { index[d] += 1; if index[d] < r.size[d] { break }; index[d] = 0; d -= 1 }
            }
        }
        return result
    }

    @inline(__always)
    static func value(_ s: UnsafeRawBufferPointer, _ i: Int, _ kind: Storage) -> Float {
        switch kind {
        case .float: Float(bitPattern: UInt32(littleEndian: s.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        case .double: Float(Double(bitPattern: UInt64(littleEndian: s.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
        case .half: Float(Float16(bitPattern: UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
        case .bfloat16:
            Float(bitPattern: UInt32(UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
        case .long: Float(Int64(littleEndian: s.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
        case .int: Float(Int32(littleEndian: s.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        case .short: Float(Int16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
        case .char: Float(s.load(fromByteOffset: i, as: Int8.self))
        case .byte, .bool: Float(s.load(fromByteOffset: i, as: UInt8.self))
        }
    }
}
