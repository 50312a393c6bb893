#if canImport(Glibc)
import Glibc
#endif

/// Per-thread scratch memory that grows and is kept between calls: the kernels' worker threads
/// run products side by side, each needing operand copies, with no allocation per call.
final class ThreadScratch {
    private(set) var pointer: UnsafeMutableRawPointer?
    private(set) var capacity = 0

    deinit { free(pointer) }

    /// At least `bytes` bytes, 64-byte aligned; the contents are not kept.
    func reserve(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > capacity {
            free(pointer)
            var raw: UnsafeMutableRawPointer?
            capacity = max(bytes, capacity * 2)
            guard posix_memalign(&raw, 64, capacity) == 0, let raw else { preconditionFailure("out of memory: \(capacity) bytes of scratch") }
            pointer = raw
        }
        return pointer!
    }

    /// One scratch per thread and purpose: a caller holding one slot's memory may call code that
    /// reserves another's (the bf16 operand copies, then oneDNN's scratchpad inside the product).
    enum Slot: Int, CaseIterable {
        /// Operand copies of the products (`BF16GEMM`, the oneDNN convolutions' converted operands).
        case operands
        /// An operand two oneDNN passes share (the convolution's dy, converted once for both gradients).
        case sharedOperand
        /// The scratchpad oneDNN's primitives run in (`OneDNN.Primitive`).
        case oneDNNScratchpad
        /// The float32 sums of a blocked max pool's backward (`BlockedPoolKernel`).
        case pooling
    }

    private static let keys: [pthread_key_t] = Slot.allCases.map { _ in
        var key = pthread_key_t()
        pthread_key_create(&key) { if let raw = $0 { Unmanaged<ThreadScratch>.fromOpaque(raw).release() } }
        return key
    }

    /// This thread's scratch for `slot`.
    static func current(_ slot: Slot = .operands) -> ThreadScratch {
        let key = keys[slot.rawValue]
        if let existing = pthread_getspecific(key) { return Unmanaged<ThreadScratch>.fromOpaque(existing).takeUnretainedValue() }
        let scratch = ThreadScratch()
        pthread_setspecific(key, Unmanaged.passRetained(scratch).toOpaque())
        return scratch
    }
}
