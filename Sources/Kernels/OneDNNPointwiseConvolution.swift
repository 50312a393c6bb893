/// 1×1 stride-1 convolutions as oneDNN matrix products straight on our NCHW buffers:
/// `y[n] = W·x[n]`, `dx[n] = Wᵀ·dy[n]`, `dW += Σₙ dy[n]·x[n]ᵀ`. No layout reorders (the
/// convolution primitive's blocked layouts cost two reorders of every activation it reads and one
/// of every result); bf16 operands are only converted, over the rank's threads, and results are
/// written in place in float32.
enum OneDNNPointwiseConvolution {
    static func applies(_ s: Conv2dShape) -> Bool { s.window.isIdentity }

    /// `count` floats as `element`: the buffer itself for fp32, a bf16 copy at `scratch` otherwise.
    private static func operand(_ element: OneDNN.Element, _ values: UnsafePointer<Float>, count: Int,
                                scratch: UnsafeMutableRawPointer) -> UnsafeRawPointer {
        guard element == .bf16 else { return UnsafeRawPointer(values) }
        BFloat16.convertInParallel(values, count: count, into: scratch.bindMemory(to: UInt16.self, capacity: count))
        return UnsafeRawPointer(scratch)
    }

    /// Scratch for bf16 copies of the given element counts, each 64-byte aligned.
    private static func scratch(_ element: OneDNN.Element, _ counts: [Int]) -> [UnsafeMutableRawPointer] {
        let sizes = counts.map { element == .bf16 ? ($0 * 2 + 63) / 64 * 64 : 0 }
        let base = ThreadScratch.current(.operands).reserve(max(sizes.reduce(0, +), 64))
        var offset = 0
        return sizes.map { size in defer { offset += size }; return base + offset }
    }

    static func forward(_ element: OneDNN.Element, _ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, threads: Int) -> Bool {
        let (n, c, o, p) = (s.batch, s.inChannels, s.outChannels, s.height * s.width)
        let buffers = scratch(element, [s.inputCount, s.weightCount])
        let xs = operand(element, x, count: s.inputCount, scratch: buffers[0])
        let ws = operand(element, weight, count: s.weightCount, scratch: buffers[1])
        guard OneDNNMatmul.runBatched(element, aBatch: 1, bBatch: n, m: o, n: p, k: c, a: ws, aStrides: [o * c, c, 1],
                                      b: xs, bStrides: [c * p, p, 1], c: y, threads: threads) else { return false }
        if let bias {
            let (out, b) = (UncheckedSendable(y), UncheckedSendable(bias))
            Parallel.forEach(n) { i in addChannelBias(out.value + i * o * p, b.value, channels: o, plane: p) }
        }
        return true
    }

    static func backward(_ element: OneDNN.Element, _ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                         threads: Int) -> Bool {
        let (n, c, o, p) = (s.batch, s.inChannels, s.outChannels, s.height * s.width)
        let buffers = scratch(element, [s.outputCount, dx == nil ? 0 : s.weightCount, dWeight == nil ? 0 : s.inputCount])
        let dys = operand(element, dy, count: s.outputCount, scratch: buffers[0])
        if let dx {
            // Wᵀ is W [O, C] read with the strides of a [C, O] matrix.
            let ws = operand(element, weight, count: s.weightCount, scratch: buffers[1])
            guard OneDNNMatmul.runBatched(element, aBatch: 1, bBatch: n, m: c, n: p, k: o, a: ws, aStrides: [o * c, 1, c],
                                          b: dys, bStrides: [o * p, p, 1], c: dx, threads: threads) else { return false }
        }
        if let dWeight {
            let xs = operand(element, x, count: s.inputCount, scratch: buffers[2])
            // One product per image, each added into dW in order (the same bits on every run).
            for i in 0..<n {
                guard OneDNNMatmul.run(element, transA: false, transB: true, m: o, n: c, k: p, alpha: 1,
                                       a: dys + i * o * p * element.bytes, b: xs + i * c * p * element.bytes, beta: 1,
                                       c: dWeight, ldc: c, threads: threads) else { return false }
            }
        }
        return true
    }
}
