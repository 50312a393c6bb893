import CZlib
import Foundation

/// The members of a zip archive as NumPy's `savez`/`savez_compressed` and `torch.save` write them: each
/// member stored (read in place from the mapped file) or deflated (inflated into memory).
/// Enough of the format for `.npz` and PyTorch's `torch.save` files: the central directory, ZIP64 sizes and offsets, no
/// encryption, no spanning.
public struct ZipArchive {
    public let file: MappedFile
    /// Member name → where its bytes are.
    public private(set) var members: [String: Member] = [:]

    public struct Member: Sendable {
        public let name: String
        public let method: UInt16
        public let compressedSize: Int
        public let size: Int
        public let localHeaderOffset: Int
    }

    public init(_ file: MappedFile) throws {
        self.file = file
        let b = file.bytes
        func fail(_ problem: String) -> FileFormatError { FileFormatError(file.path, "not a readable zip (.npz) archive: \(problem)") }
        // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
        var end = -1
        var i = b.count - 22
        while i >= max(0, b.count - 22 - 65_535) {
            if u32(i) == 0x0605_4b50 { end = i; break }
            i -= 1
        }
        guard end >= 0 else { throw fail("no end-of-central-directory record (truncated?)") }
        var count = Int(u16(end + 10)), directorySize = Int(u32(end + 12)), directoryOffset = Int(u32(end + 16))
        if directoryOffset == 0xFFFF_FFFF || count == 0xFFFF {
            // ZIP64: its locator sits just before the classic record and points at the ZIP64 record.
            guard end >= 20, u32(end - 20) == 0x0706_4b50 else { throw fail("ZIP64 locator missing") }
            let record = Int(u64(end - 12))
            guard record + 56 <= b.count, u32(record) == 0x0606_4b50 else { throw fail("ZIP64 record missing") }
            count = Int(u64(record + 32)); directorySize = Int(u64(record + 40)); directoryOffset = Int(u64(record + 48))
        }
        guard directoryOffset + directorySize <= b.count else { throw fail("central directory past the end (truncated?)") }
        var p = directoryOffset
        for _ in 0..<count {
            guard p + 46 <= b.count, u32(p) == 0x0201_4b50 else { throw fail("damaged central directory") }
            let flags = u16(p + 8), method = u16(p + 10)
            var compressed = Int(u32(p + 20)), size = Int(u32(p + 24))
            let nameLength = Int(u16(p + 28)), extraLength = Int(u16(p + 30)), commentLength = Int(u16(p + 32))
            var offset = Int(u32(p + 42))
            guard p + 46 + nameLength + extraLength <= b.count else { throw fail("damaged central directory") }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: b[(p + 46)..<(p + 46 + nameLength)]), as: UTF8.self)
            // ZIP64 extra field: the 64-bit values of those fields that are 0xFFFFFFFF, in this order.
            var e = p + 46 + nameLength
            while e + 4 <= p + 46 + nameLength + extraLength {
                let id = u16(e), length = Int(u16(e + 2))
                if id == 1 {
                    var q = e + 4
                    if size == 0xFFFF_FFFF { size = Int(u64(q)); q += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = Int(u64(q)); q += 8 }
                    if offset == 0xFFFF_FFFF { offset = Int(u64(q)) }
                }
                e += 4 + length
            }
            guard flags & 1 == 0 else { throw FileFormatError(file.path, "member \(name) is encrypted") }
            members[name] = Member(name: name, method: method, compressedSize: compressed, size: size, localHeaderOffset: offset)
            p += 46 + nameLength + extraLength + commentLength
        }
    }

    /// A member's bytes, valid while this object lives: the mapped file's own pages when the
    /// member is stored, an inflated copy when it is deflated.
    public final class MemberData: @unchecked Sendable {
        public let bytes: UnsafeRawBufferPointer
        private let owner: AnyObject
        init(_ bytes: UnsafeRawBufferPointer, owner: AnyObject) { self.bytes = bytes; self.owner = owner }
    }

    /// The bytes of member `name`.
    public func contents(_ name: String) throws -> MemberData {
        guard let member = members[name] else { throw FileFormatError(file.path, "no member \(name) in the archive") }
        let b = file.bytes, h = member.localHeaderOffset
        guard h + 30 <= b.count, u32(h) == 0x0403_4b50 else { throw FileFormatError(file.path, "member \(name): damaged local header") }
        let start = h + 30 + Int(u16(h + 26)) + Int(u16(h + 28))
        guard start + member.compressedSize <= b.count else { throw FileFormatError(file.path, "member \(name) is truncated") }
        let stored = UnsafeRawBufferPointer(rebasing: b[start..<(start + member.compressedSize)])
        switch member.method {
        case 0: return MemberData(stored, owner: file)
        case 8:
            let inflated = try Self.inflateRaw(stored, size: member.size, what: "\(file.path): member \(name)")
            return MemberData(UnsafeRawBufferPointer(inflated.buffer), owner: inflated)
        default: throw FileFormatError(file.path, "member \(name) uses compression method \(member.method) (only stored and deflated are read)")
        }
    }

    /// An owned buffer, freed with its owner.
    final class Buffer {
        let buffer: UnsafeMutableRawBufferPointer
        init(_ count: Int) { buffer = .allocate(byteCount: max(count, 1), alignment: 64) }
        deinit { buffer.deallocate() }
    }

    static func inflateRaw(_ input: UnsafeRawBufferPointer, size: Int, what: String) throws -> Buffer {
        let out = Buffer(size)
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FileFormatError(what, "cannot start zlib")
        }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        stream.next_out = out.buffer.baseAddress?.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = uInt(size)
        let status = inflate(&stream, Z_FINISH)
        guard status == Z_STREAM_END, Int(stream.total_out) == size else {
            throw FileFormatError(what, "does not inflate (zlib status \(status)); the archive is damaged or truncated")
        }
        return out
    }

    private func u16(_ at: Int) -> UInt16 { file.bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian }
    private func u32(_ at: Int) -> UInt32 { file.bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian }
    private func u64(_ at: Int) -> UInt64 { file.bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian }
}
