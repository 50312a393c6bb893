import Foundation

/// A value of a pickle as a state dict holds them.
public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case tuple([PickleValue])
    case list([PickleValue])
    /// Keys in insertion order (an `OrderedDict`'s order).
    case dict([(key: PickleValue, value: PickleValue)])
    /// An allowed global, by its dotted name (`torch.FloatStorage`).
    case global(String)
    /// `('storage', type, key, location, numel)`: a storage of the archive.
    case storage(type: String, key: String)
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`.
    case tensor(TorchTensorReference)

    var asInt: Int? { if case .int(let v) = self { return Int(v) } else { return nil } }
    var asString: String? { if case .string(let v) = self { return v } else { return nil } }
    var asInts: [Int]? {
        switch self {
        case .tuple(let items), .list(let items): let ints = items.compactMap(\.asInt); return ints.count == items.count ? ints : nil
        default: return nil
        }
    }
}

/// Where a tensor's elements are: `storage` from element `offset`, with `size` and `stride`.
public struct TorchTensorReference {
    public let storageType: String
    public let storageKey: String
    public let offset: Int
    public let size: [Int]
    public let stride: [Int]
}

/// Reads the pickle `torch.save` writes for a state dict and refuses everything else, in the
/// spirit of `torch.load(weights_only=True)`: protocol-2 opcodes only, and as globals only
/// `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and the storage types. Nothing
/// is ever called or executed: the allowed globals are recognised by name and their effect is
/// rebuilt here; any other global or opcode stops the read with its name.
public struct RestrictedUnpickler {
    public static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.LongStorage",
        "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage", "torch.BoolStorage",
    ]

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    let bytes: [UInt8]
    let source: String
    var position = 0
    var stack: [PickleValue?] = []  // nil marks MARK
    var memo: [Int: PickleValue] = [:]

    public static func load(_ bytes: [UInt8], source: String) throws -> PickleValue {
        var reader = RestrictedUnpickler(bytes: bytes, source: source)
        return try reader.run()
    }

    init(bytes: [UInt8], source: String) { self.bytes = bytes; self.source = source }

    func refuse(_ problem: String) -> Refused { Refused(description: "\(source): \(problem)") }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, position + count <= bytes.count else { throw refuse("the pickle is truncated") }
        defer { position += count }
        return bytes[position..<(position + count)]
    }
    mutating func uint(_ count: Int) throws -> Int {
        try take(count).reversed().reduce(0) { $0 << 8 | Int($1) }
    }
    mutating func line() throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw refuse("the pickle is truncated") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }
    mutating func pop() throws -> PickleValue {
        guard let last = stack.popLast(), let value = last else { throw refuse("malformed pickle (stack underflow)") }
        return value
    }
    mutating func popToMark() throws -> [PickleValue] {
        guard let mark = stack.lastIndex(where: { $0 == nil }) else { throw refuse("malformed pickle (no mark)") }
        let items = stack[(mark + 1)...].map { $0! }
        stack.removeSubrange(mark...)
        return items
    }

    mutating func run() throws -> PickleValue {
        while true {
            let opcode = try take(1).first!
            switch opcode {
            case 0x80:  // PROTO
                let version = try uint(1)
                guard version <= 2 else { throw refuse("pickle protocol \(version); state dicts are read in protocol 2, torch.save's default") }
            case 0x2E: return try pop()  // STOP
            case 0x28: stack.append(nil)  // MARK
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popToMark()  // POP_MARK
            case 0x4E: stack.append(PickleValue.none)  // NONE
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case 0x4A: stack.append(.int(Int64(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x4B: stack.append(.int(Int64(try uint(1))))  // BININT1
            case 0x4D: stack.append(.int(Int64(try uint(2))))  // BININT2
            case 0x8A:  // LONG1
                let count = try uint(1)
                let raw = try take(count)
                guard count <= 8 else { throw refuse("an integer of \(count) bytes") }
                var value: Int64 = 0
                for (i, byte) in raw.enumerated() { value |= Int64(byte) << (8 * i) }
                if count > 0 && count < 8 && raw.last! & 0x80 != 0 { value -= Int64(1) << (8 * count) }
                stack.append(.int(value))
            case 0x47:  // BINFLOAT, big-endian
                stack.append(.float(Double(bitPattern: UInt64(try take(8).reduce(0) { $0 << 8 | Int($1) }))))
            case 0x58: let n = try uint(4); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))  // BINUNICODE
            case 0x55: let n = try uint(1); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))  // SHORT_BINSTRING
            case 0x54: let n = try uint(4); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))  // BINSTRING
            case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
            case 0x74: stack.append(.tuple(try popToMark()))  // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))  // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))  // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x5D: stack.append(.list([]))  // EMPTY_LIST
            case 0x6C: stack.append(.list(try popToMark()))  // LIST
            case 0x61: let item = try pop(); try extendList([item])  // APPEND
            case 0x65: let items = try popToMark(); try extendList(items)  // APPENDS
            case 0x7D: stack.append(.dict([]))  // EMPTY_DICT
            case 0x64: stack.append(.dict(try pairs(try popToMark())))  // DICT
            case 0x73: let value = try pop(), key = try pop(); try extendDict([(key, value)])  // SETITEM
            case 0x75: try extendDict(try pairs(try popToMark()))  // SETITEMS
            case 0x71: memo[try uint(1)] = try top()  // BINPUT
            case 0x72: memo[try uint(4)] = try top()  // LONG_BINPUT
            case 0x68, 0x6A:  // BINGET, LONG_BINGET
                let index = try uint(opcode == 0x68 ? 1 : 4)
                guard let value = memo[index] else { throw refuse("malformed pickle (memo \(index) unset)") }
                stack.append(value)
            case 0x63:  // GLOBAL
                let name = "\(try line()).\(try line())"
                guard Self.allowedGlobals.contains(name) else {
                    throw refuse("refused: the pickle names the global \(name); a weights file may name only "
                                 + "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and the storage types (nothing was run)")
                }
                stack.append(.global(name))
            case 0x51: stack.append(try persistent(try pop()))  // BINPERSID
            case 0x52: let args = try pop(), callable = try pop(); stack.append(try reduce(callable, args))  // REDUCE
            case 0x62:  // BUILD: an OrderedDict's attributes (`_metadata`) are not needed.
                _ = try pop()
                guard case .dict = try top() else { throw refuse("refused: BUILD on something other than a dict") }
            default:
                throw refuse("refused: pickle opcode 0x\(String(opcode, radix: 16)) ('\(Character(UnicodeScalar(opcode)))') is outside "
                             + "what a state dict needs (nothing was run)")
            }
        }
    }

    func top() throws -> PickleValue {
        guard let last = stack.last, let value = last else { throw refuse("malformed pickle (empty stack)") }
        return value
    }

    func pairs(_ items: [PickleValue]) throws -> [(key: PickleValue, value: PickleValue)] {
        guard items.count % 2 == 0 else { throw refuse("malformed pickle (odd dict items)") }
        return stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }
    }

    mutating func extendDict(_ items: [(key: PickleValue, value: PickleValue)]) throws {
        guard case .dict(let existing)? = stack.last else { throw refuse("malformed pickle (SETITEMS without a dict)") }
        stack[stack.count - 1] = .dict(existing + items)
    }

    mutating func extendList(_ items: [PickleValue]) throws {
        guard case .list(let existing)? = stack.last else { throw refuse("malformed pickle (APPENDS without a list)") }
        stack[stack.count - 1] = .list(existing + items)
    }

    func persistent(_ id: PickleValue) throws -> PickleValue {
        guard case .tuple(let parts) = id, parts.count >= 3, parts[0].asString == "storage",
              case .global(let type) = parts[1], let key = parts[2].asString else {
            throw refuse("refused: a persistent id other than a tensor storage")
        }
        return .storage(type: type, key: key)
    }

    func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let name) = callable, case .tuple(let a) = args else { throw refuse("refused: REDUCE of a non-global") }
        switch name {
        case "collections.OrderedDict":
            guard a.isEmpty else { throw refuse("refused: OrderedDict built from arguments") }
            return .dict([])
        case "torch._utils._rebuild_tensor_v2":
            guard a.count >= 4, case .storage(let type, let key) = a[0], let offset = a[1].asInt, let size = a[2].asInts,
                  let stride = a[3].asInts, size.count == stride.count else {
                throw refuse("malformed tensor (expected storage, offset, size, stride)")
            }
            return .tensor(TorchTensorReference(storageType: type, storageKey: key, offset: offset, size: size, stride: stride))
        default:
            throw refuse("refused: calling \(name)")
        }
    }
}
