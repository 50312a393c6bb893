import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files that are either wholly the old version or wholly the new one, whatever crashes when:
/// a temporary file in the same folder, fsync, rename into place, fsync the folder.
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func write(_ bytes: [UInt8], to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let temporary = "\(folder)/.tmp-\(getpid())-\((path as NSString).lastPathComponent)"
        let fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard fd >= 0 else { throw WriteError(description: "\(folder): cannot write here (\(String(cString: strerror(errno))))") }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let reason = String(cString: strerror(errno))
        close(fd)
        guard ok else {
            unlink(temporary)
            throw WriteError(description: "\(path): writing failed (\(reason))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw WriteError(description: "\(path): cannot move the file into place (\(reason))")
        }
        let dir = open(folder, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}
