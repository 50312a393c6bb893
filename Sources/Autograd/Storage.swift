#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A 64-byte-aligned block of Floats, shared by a tensor and its reshaped views.
public final class Storage {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    /// Uninitialised memory: every op that allocates one writes all of it.
    public init(count: Int) {
        self.count = count
        var raw: UnsafeMutableRawPointer? = nil
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            preconditionFailure("out of memory allocating \(bytes) bytes for a tensor")
        }
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit { free(base) }
}
