/// The element-wise passes of a residual network (ReLU, the residual add with its ReLU, ReLU's
/// backward, adding gradients) on memory of one element type, float32 or bf16: the layout does
/// not matter to them, only that every operand has the same one. Counts are multiples of 16
/// (blocked tensors hold whole channel blocks).
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
        element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
    }

    /// `dx = dy` where the saved output `y` is positive, else 0; `dx` may be `dy`'s memory.
    public static func reluBackward(_ element: OneDNN.Element, y: UnsafeRawPointer, dy: UnsafeRawPointer,
                                    dx: UnsafeMutableRawPointer, count: Int) {
        func run<L: Lanes>(_: L.Type) {
            forBlocks(count) { i in L.store(dx, i, L.load(dy, i).replacing(with: 0, where: L.load(y, i) .<= 0)) }
        }
        element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
    }

    /// `y += x` (in bf16: each sum rounded back to bf16).
    public static func accumulate(_ element: OneDNN.Element, _ x: UnsafeRawPointer, into y: UnsafeMutableRawPointer, count: Int) {
        func run<L: Lanes>(_: L.Type) {
            forBlocks(count) { i in L.store(y, i, L.load(y, i) + L.load(x, i)) }
        }
        element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
    }

    /// Calls `body` with every 16th index below `count`, over the rank's threads.
    @inline(__always)
    private static func forBlocks(_ count: Int, _ body: (Int) -> Void) {
        precondition(count % 16 == 0, "blocked element-wise pass over \(count) elements")
        Parallel.forRanges(count / 16, grain: grain / 16) { r in
            for v in r { body(v * 16) }
        }
    }
}
