import Foundation

/// Writes TensorBoard event files: TFRecord framing (length, masked CRC-32C of the length,
/// data, masked CRC-32C of the data) around `Event` protocol buffers carrying scalar summaries.
public final class TensorBoardWriter {
    public let path: String
    private let handle: FileHandle

    /// Creates `events.out.tfevents.<time>.<host>` in `directory`.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        path = "\(directory)/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host)"
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw TrainingError("\(path): cannot create the TensorBoard event file")
        }
        self.handle = handle
        write(event: Self.event(wallTime: Date().timeIntervalSince1970, step: 0, fileVersion: "brain.Event:2"))
    }

    deinit { try? handle.close() }

    /// One scalar per tag at `step`.
    public func add(scalars: [(tag: String, value: Double)], step: Int, wallTime: Double = Date().timeIntervalSince1970) {
        var summary = [UInt8]()
        for (tag, value) in scalars {
            var entry = Protobuf.bytes(field: 1, Array(tag.utf8))
            entry += Protobuf.float(field: 2, Float(value))
            summary += Protobuf.bytes(field: 1, entry)
        }
        write(event: Self.event(wallTime: wallTime, step: step, summary: summary))
    }

    public func flush() { try? handle.synchronize() }

    static func event(wallTime: Double, step: Int, fileVersion: String? = nil, summary: [UInt8]? = nil) -> [UInt8] {
        var out = Protobuf.double(field: 1, wallTime) + Protobuf.varint(field: 2, UInt64(bitPattern: Int64(step)))
        if let fileVersion { out += Protobuf.bytes(field: 3, Array(fileVersion.utf8)) }
        if let summary { out += Protobuf.bytes(field: 5, summary) }
        return out
    }

    /// TFRecord framing of one record.
    public static func record(_ data: [UInt8]) -> [UInt8] {
        var length = UInt64(data.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Array($0) }
        var out = lengthBytes
        out += littleEndian(CRC32C.masked(CRC32C.checksum(lengthBytes)))
        out += data
        out += littleEndian(CRC32C.masked(CRC32C.checksum(data)))
        return out
    }

    static func littleEndian(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    private func write(event: [UInt8]) { handle.write(Data(Self.record(event))) }
}

/// The few protocol-buffer encodings an `Event` needs.
enum Protobuf {
    static func key(_ field: Int, _ wireType: Int) -> [UInt8] { encodeVarint(UInt64(field << 3 | wireType)) }

    static func encodeVarint(_ value: UInt64) -> [UInt8] {
        var v = value, out = [UInt8]()
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { byte |= 0x80 }
            out.append(byte)
        } while v != 0
        return out
    }

    static func varint(field: Int, _ value: UInt64) -> [UInt8] { key(field, 0) + encodeVarint(value) }
    static func double(field: Int, _ value: Double) -> [UInt8] { key(field, 1) + withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
    static func float(field: Int, _ value: Float) -> [UInt8] { key(field, 5) + withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
    static func bytes(field: Int, _ value: [UInt8]) -> [UInt8] { key(field, 2) + encodeVarint(UInt64(value.count)) + value }
}
