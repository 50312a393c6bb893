import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file mapped read-only into memory: pages are read when touched, so a rank reading only its
/// shard of a large array reads only that shard's pages. Unmapped when released.
final class MappedFile: @unchecked Sendable {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw DataError(path, FileManager.default.fileExists(atPath: path) ? "cannot open the file" : "file not found")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DataError(path, "cannot read the file's size") }
        let size = Int(info.st_size)
        self.path = path
        guard size > 0 else { bytes = UnsafeRawBufferPointer(start: nil, count: 0); return }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw DataError(path, "cannot map the file into memory")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
