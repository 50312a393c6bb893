import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file mapped read-only into memory: pages are read when touched, so a rank reading only its
/// shard of a large array reads only that shard's pages. Unmapped when released.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    public init(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw FileFormatError(path, FileManager.default.fileExists(atPath: path) ? "cannot open the file" : "file not found")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileFormatError(path, "cannot read the file's size") }
        let size = Int(info.st_size)
        self.path = path
        guard size > 0 else { bytes = UnsafeRawBufferPointer(start: nil, count: 0); return }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw FileFormatError(path, "cannot map the file into memory")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// A file that is not what it should be: names the file and what is wrong.
public struct FileFormatError: Error, CustomStringConvertible {
    public let description: String
    public init(_ path: String, _ problem: String) { description = "\(path): \(problem)" }
}
