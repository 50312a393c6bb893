import CBlockedAVX512

/// The element-wise passes of a residual network (ReLU, the residual add with its ReLU, ReLU's
/// backward, adding gradients) on memory of one element type, float32 or bf16: the layout does
/// not matter to them, only that every operand has the same one. Counts are multiples of 16
/// (blocked tensors hold whole channel blocks). On bf16 with `VectorISA.current == .avx512` the
/// add, add+ReLU and ReLU's backward run through `CBlockedAVX512` (same bits).
public enum BlockedElementwiseKernel {
    static let grain = 1 << 14

    /// `y = max(x, 0)`.
    public static func relu(_ element: OneDNN.Element, _ x: UnsafeRawPointer, _ y: UnsafeMutableRawPointer, count: Int) {
        func run<L: Lanes>(_: L.Type) {
            forBlocks(count) { i in
                let v = L.load(x, i)
                L.store(y, i, v.replacing(with: 0, where: v .< 0))
            }
        }
        element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
    }

    /// `y = max(a + b, 0)`.
    public static func addReLU(_ element: OneDNN.Element, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer,
                               _ y: UnsafeMutableRawPointer, count: Int) {
        func run<L: Lanes>(_: L.Type) {
            forBlocks(count) { i in
                let v = L.load(a, i) + L.load(b, i)
                L.store(y, i, v.replacing(with: 0, where: v .< 0))
            }
        }
        if avx512(element) {
            add(a, b, relu: true, into: y, count: count)
        } else {
            element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
        }
    }

    /// `dx = dy` where the saved output `y` is positive, else 0; `dx` may be `dy`'s memory.
    public static func reluBackward(_ element: OneDNN.Element, y: UnsafeRawPointer, dy: UnsafeRawPointer,
                                    dx: UnsafeMutableRawPointer, count: Int) {
        func run<L: Lanes>(_: L.Type) {
            forBlocks(count) { i in L.store(dx, i, L.load(dy, i).replacing(with: 0, where: L.load(y, i) .<= 0)) }
        }
        if avx512(element) {
            let (y, dy, dx) = (y.assumingMemoryBound(to: UInt16.self), dy.assumingMemoryBound(to: UInt16.self),
                               dx.assumingMemoryBound(to: UInt16.self))
            forVectorRanges(count) { r in ddp_bf16_relu_backward(y + 16 * r.lowerBound, dy + 16 * r.lowerBound, dx + 16 * r.lowerBound, r.count) }
        } else {
            element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
        }
    }

    /// `y += x` (in bf16: each sum rounded back to bf16).
    public static func accumulate(_ element: OneDNN.Element, _ x: UnsafeRawPointer, into y: UnsafeMutableRawPointer, count: Int) {
        func run<L: Lanes>(_: L.Type) {
            forBlocks(count) { i in L.store(y, i, L.load(y, i) + L.load(x, i)) }
        }
        if avx512(element) {
            add(UnsafeRawPointer(y), x, relu: false, into: y, count: count)
        } else {
            element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
        }
    }

    /// Whether a pass on `element` takes the AVX-512 build.
    @inline(__always)
    private static func avx512(_ element: OneDNN.Element) -> Bool { element == .bf16 && VectorISA.current == .avx512 }

    private static func add(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, relu: Bool, into y: UnsafeMutableRawPointer,
                            count: Int) {
        let (a, b, y) = (a.assumingMemoryBound(to: UInt16.self), b.assumingMemoryBound(to: UInt16.self),
                         y.assumingMemoryBound(to: UInt16.self))
        forVectorRanges(count) { r in
            ddp_bf16_add(a + 16 * r.lowerBound, b + 16 * r.lowerBound, relu ? 1 : 0, y + 16 * r.lowerBound, r.count)
        }
    }

    /// Calls `body` with sub-ranges of the `count / 16` vectors, over the rank's threads.
    @inline(__always)
    private static func forVectorRanges(_ count: Int, _ body: (Range<Int>) -> Void) {
        precondition(count % 16 == 0, "blocked element-wise pass over \(count) elements")
        Parallel.forRanges(count / 16, grain: grain / 16, body)
    }

    /// Calls `body` with every 16th index below `count`, over the rank's threads.
    @inline(__always)
    private static func forBlocks(_ count: Int, _ body: (Int) -> Void) {
        forVectorRanges(count) { r in
            for v in r { body(v * 16) }
        }
    }
}
