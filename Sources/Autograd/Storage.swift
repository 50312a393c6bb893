#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A 64-byte-aligned block of Floats, shared by a tensor and its reshaped views.
///
/// Blocks are recycled through `StoragePool`: a training step allocates the same sizes every
/// time, and handing a freed block to the next request of its size class spares the page
/// faults and zeroing that a fresh mapping costs (glibc returns large blocks to the kernel).
public final class Storage {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int
    /// Floats actually reserved: `count` rounded up to its pool size class.
    let capacity: Int
    /// For memory borrowed from another object (kept alive by this storage): nothing to free.
    private let owner: AnyObject?

    /// `count` floats at `base`, which belong to `owner` (a gradient bucket, say).
    public init(borrowing base: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.base = base
        self.count = count
        self.capacity = count
        self.owner = owner
    }

    /// Uninitialised memory: every op that allocates one writes all of it.
    public init(count: Int) {
        self.count = count
        owner = nil
        let wanted = StoragePool.sizeClass(of: count)
        if let recycled = StoragePool.take(wanted) {
            base = recycled.block
            capacity = recycled.capacity
            return
        }
        capacity = wanted
        base = Storage.allocate(capacity)
    }

    /// Pool-sized blocks are mapped straight from the kernel, so that freeing one returns its
    /// memory at once (glibc would keep sub-32 MiB blocks in its heap, which only grows);
    /// smaller ones come from malloc.
    static func allocate(_ capacity: Int) -> UnsafeMutablePointer<Float> {
        let bytes = max(capacity, 1) * MemoryLayout<Float>.stride
        if capacity >= StoragePool.minimumCount {
            let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let raw, raw != MAP_FAILED else {
                preconditionFailure("out of memory mapping \(bytes) bytes for a tensor")
            }
            return raw.bindMemory(to: Float.self, capacity: capacity)
        }
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            preconditionFailure("out of memory allocating \(bytes) bytes for a tensor")
        }
        return raw.bindMemory(to: Float.self, capacity: max(capacity, 1))
    }

    static func release(_ block: UnsafeMutablePointer<Float>, capacity: Int) {
        if capacity >= StoragePool.minimumCount {
            munmap(block, capacity * MemoryLayout<Float>.stride)
        } else {
            free(block)
        }
    }

    deinit {
        guard owner == nil else { return }
        if !StoragePool.give(base, capacity) { Storage.release(base, capacity: capacity) }
    }
}

/// Freed blocks of at least 64 KiB, by size class. A stable graph asks for the same sizes
/// every step, so a step's tensors and scratch space reuse the previous step's blocks instead
/// of new mappings, whose page faults and zeroing otherwise cost a large share of a step
/// (docs/benchmarks.md).
///
/// Sizes are rounded up to eight classes per power of two (at most 12.5% more, and pages a
/// smaller tenant never touches cost no memory), and a request with no block of its class takes
/// the smallest pooled block up to twice its size, so that the forward pass's activations, the
/// backward pass's gradients and the convolutions' scratch space share blocks (with exact sizes,
/// the forward pass's peak also held pooled blocks only the backward pass could use). Pooled and live blocks together stay within the peak of live ones plus
/// `slackBytes`: past that, a new block first frees pooled ones.
public enum StoragePool {
    static let minimumCount = 16 * 1024
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    nonisolated(unsafe) private static var pooledBytes = 0
    nonisolated(unsafe) private static var liveBytes = 0
    nonisolated(unsafe) private static var peakLiveBytes = 0
    /// How far live + pooled blocks may exceed the peak of live ones before pooled blocks are
    /// freed to make room for a new one.
    static let slackBytes = 512 << 20
    nonisolated(unsafe) private static var mutex: pthread_mutex_t = {
        var m = pthread_mutex_t()
        pthread_mutex_init(&m, nil)
        return m
    }()

    /// `count` rounded up to the next of eight steps per power of two (small counts unchanged).
    static func sizeClass(of count: Int) -> Int {
        guard count > minimumCount else { return count }
        let exponent = Int.bitWidth - 1 - count.leadingZeroBitCount
        let step = 1 << (exponent - 3)
        return (count + step - 1) / step * step
    }

    /// Frees every pooled block (what `torch.cuda.empty_cache()` does for PyTorch's GPU pool).
    public static func releaseCached() {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        for (capacity, blocks) in free { for block in blocks { Storage.release(block, capacity: capacity) } }
        free = [:]
        pooledBytes = 0
    }

    /// A pooled block of exactly `capacity` floats, or nil (the caller allocates); either way the
    /// block counts as live until `give` takes it back.
    static func take(_ capacity: Int) -> (block: UnsafeMutablePointer<Float>, capacity: Int)? {
        guard capacity >= minimumCount else { return nil }
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        // The block of this class, or the smallest pooled one up to twice its size.
        var chosen = capacity
        if free[capacity]?.isEmpty != false,
           let larger = free.keys.filter({ $0 > capacity && $0 <= 2 * capacity && free[$0]?.isEmpty == false }).min() {
            chosen = larger
        }
        let bytes = chosen * MemoryLayout<Float>.stride
        liveBytes += bytes
        peakLiveBytes = max(peakLiveBytes, liveBytes)
        if let block = free[chosen]?.popLast() {
            pooledBytes -= bytes
            return (block, chosen)
        }
        // A new block: keep live + pooled within the peak working set and the slack.
        let excess = liveBytes + pooledBytes - (peakLiveBytes + slackBytes)
        if excess > 0 { evict(atLeast: excess) }
        return nil
    }

    /// Pools the block; false when it should go back to the system (it is too small).
    static func give(_ block: UnsafeMutablePointer<Float>, _ capacity: Int) -> Bool {
        guard capacity >= minimumCount else { return false }
        let bytes = capacity * MemoryLayout<Float>.stride
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        liveBytes -= bytes
        free[capacity, default: []].append(block)
        pooledBytes += bytes
        return true
    }

    /// Frees pooled blocks until `bytes` have gone or the pool is empty: the smallest block that
    /// covers what is left if there is one, else the largest, so that no more goes than needed.
    private static func evict(atLeast bytes: Int) {
        var left = bytes
        while left > 0 && pooledBytes > 0 {
            let classes = free.keys.filter { free[$0]?.isEmpty == false }
            let needed = (left + MemoryLayout<Float>.stride - 1) / MemoryLayout<Float>.stride
            guard let chosen = classes.filter({ $0 >= needed }).min() ?? classes.max(),
                  let block = free[chosen]?.popLast() else { return }
            Storage.release(block, capacity: chosen)
            let size = chosen * MemoryLayout<Float>.stride
            left -= size
            pooledBytes -= size
        }
    }
}
