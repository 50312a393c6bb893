import CBlockedAVX512

/// `BatchNormKernel`'s passes on blocked tensors (`TensorFormat.blocked`: N, C/16, H, W, 16),
/// in float32 or bf16: the same formulas, sixteen channels per vector, statistics and
/// per-channel factors in float32/Double as PyTorch's CPU autocast keeps them. The work is
/// split by channel block (statistics) or by image and block (the rest), so results do not
/// depend on the number of threads. On bf16 with `VectorISA.current == .avx512` the training
/// passes (statistics, normalize, backward reduce and input) run each image's block through
/// `CBlockedAVX512` (same bits); the eval-mode input gradient, rare in training, stays portable.
public enum BlockedBatchNormKernel {
    /// Geometry of one blocked tensor.
    public struct Geometry: Sendable {
        public var batch, channels, plane: Int
        public var element: OneDNN.Element
        public init(batch: Int, channels: Int, plane: Int, element: OneDNN.Element) {
            precondition(channels % TensorFormat.blockChannels == 0, "blocked batch norm: \(channels) channels")
            self.batch = batch; self.channels = channels; self.plane = plane; self.element = element
        }
        var blocks: Int { channels / TensorFormat.blockChannels }
        /// Element index of pixel `i` of block `cb` of image `n`.
        @inline(__always) func offset(_ n: Int, _ cb: Int, _ i: Int) -> Int { ((n * blocks + cb) * plane + i) * 16 }
    }

    /// Per-channel `Σx` and `Σx²` (Double; float32 partial sums over at most 256 pixels).
    public static func statistics(x: UnsafeRawPointer, _ g: Geometry,
                                  sum: UnsafeMutablePointer<Double>, sumSquares: UnsafeMutablePointer<Double>) {
        func run<L: Lanes>(_: L.Type) {
            Parallel.forEach(g.blocks) { cb in
                var s = [Double](repeating: 0, count: 16), q = [Double](repeating: 0, count: 16)
                for n in 0..<g.batch {
                    reduce(g.plane, into: &s, &q) { i in
                        let v = L.load(x, g.offset(n, cb, i))
                        return (v, v * v)
                    }
                }
                for lane in 0..<16 { sum[cb * 16 + L.channel(lane)] = s[lane]; sumSquares[cb * 16 + L.channel(lane)] = q[lane] }
            }
        }
        switch (g.element, VectorISA.current) {
        case (.f32, _): run(Float32Lanes.self)
        case (_, .portable): run(BFloat16Lanes.self)
        case (_, .avx512):
            let x = x.assumingMemoryBound(to: UInt16.self)
            perBlockMoments(g, sum: sum, second: sumSquares) { n, cb, s, q in ddp_bf16_moments(x + g.offset(n, cb, 0), g.plane, s, q) }
        }
    }

    /// `y = (x − mean)·invStd·weight + bias`, per channel; with `relu`, `max(y, 0)`.
    public static func normalize(x: UnsafeRawPointer, _ g: Geometry, mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                 weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, relu: Bool,
                                 y: UnsafeMutableRawPointer) {
        var scales = [Float](repeating: 0, count: g.channels), shifts = scales
        for c in 0..<g.channels {
            scales[c] = invStd[c] * (weight?[c] ?? 1)
            shifts[c] = (bias?[c] ?? 0) - mean[c] * scales[c]
        }
        func run<L: Lanes>(_: L.Type) {
            scales.withUnsafeBufferPointer { scales in
                shifts.withUnsafeBufferPointer { shifts in
                    forEachImageBlock(g) { n, cb in
                        let scale = L.factors(scales.baseAddress!, cb), shift = L.factors(shifts.baseAddress!, cb)
                        let start = g.offset(n, cb, 0)
                        for i in 0..<g.plane {
                            let v = L.load(x, start + i * 16) * scale + shift
                            L.store(y, start + i * 16, relu ? v.replacing(with: 0, where: v .< 0) : v)
                        }
                    }
                }
            }
        }
        switch (g.element, VectorISA.current) {
        case (.f32, _): run(Float32Lanes.self)
        case (_, .portable): run(BFloat16Lanes.self)
        case (_, .avx512):
            let (x, y) = (x.assumingMemoryBound(to: UInt16.self), y.assumingMemoryBound(to: UInt16.self))
            (scales + shifts).withUnsafeBufferPointer { f in
                let (scale, shift) = (f.baseAddress!, f.baseAddress! + g.channels)
                forEachImageBlock(g) { n, cb in
                    let start = g.offset(n, cb, 0)
                    ddp_bf16_affine(x + start, g.plane, scale + cb * 16, shift + cb * 16, relu ? 1 : 0, y + start)
                }
            }
        }
    }

    /// Per-channel `Σdy` and `Σdy·(x − mean)`; with `reluOutput`, `dy` counts only where that
    /// output is positive.
    public static func backwardReduce(dy: UnsafeRawPointer, x: UnsafeRawPointer, _ g: Geometry, mean: UnsafePointer<Float>,
                                      reluOutput: UnsafeRawPointer?,
                                      sumDy: UnsafeMutablePointer<Double>, sumDyXmu: UnsafeMutablePointer<Double>) {
        func run<L: Lanes>(_: L.Type) {
            Parallel.forEach(g.blocks) { cb in
                let m = L.factors(mean, cb)
                var s = [Double](repeating: 0, count: 16), q = [Double](repeating: 0, count: 16)
                for n in 0..<g.batch {
                    reduce(g.plane, into: &s, &q) { i in
                        let index = g.offset(n, cb, i)
                        let d = passed(L.self, dy, reluOutput, index)
                        return (d, d * (L.load(x, index) - m))
                    }
                }
                for lane in 0..<16 { sumDy[cb * 16 + L.channel(lane)] = s[lane]; sumDyXmu[cb * 16 + L.channel(lane)] = q[lane] }
            }
        }
        switch (g.element, VectorISA.current) {
        case (.f32, _): run(Float32Lanes.self)
        case (_, .portable): run(BFloat16Lanes.self)
        case (_, .avx512):
            let (dy, x) = (dy.assumingMemoryBound(to: UInt16.self), x.assumingMemoryBound(to: UInt16.self))
            let relu = reluOutput?.assumingMemoryBound(to: UInt16.self)
            perBlockMoments(g, sum: sumDy, second: sumDyXmu) { n, cb, s, q in
                let start = g.offset(n, cb, 0)
                ddp_bf16_backward_moments(dy + start, x + start, relu.map { $0 + start }, g.plane, mean + cb * 16, s, q)
            }
        }
    }

    /// Training-mode input gradient, `BatchNormKernel.backwardInput`'s formula; `dx` may be
    /// `dy`'s memory.
    public static func backwardInput(dy: UnsafeRawPointer, x: UnsafeRawPointer, _ g: Geometry, mean: UnsafePointer<Float>,
                                     invStd: UnsafePointer<Float>, weight: UnsafePointer<Float>?, reluOutput: UnsafeRawPointer?,
                                     sumDy: UnsafePointer<Double>, sumDyXmu: UnsafePointer<Double>, count: Double,
                                     dx: UnsafeMutableRawPointer) {
        var gains = [Float](repeating: 0, count: g.channels), meanDys = gains, projs = gains
        for c in 0..<g.channels {
            let istd = Double(invStd[c])
            gains[c] = Float(istd * Double(weight?[c] ?? 1))
            meanDys[c] = Float(sumDy[c] / count)
            projs[c] = Float(sumDyXmu[c] / count * istd * istd)
        }
        func run<L: Lanes>(_: L.Type) {
            forEachImageBlock(g) { n, cb in
                let gain = gains.withUnsafeBufferPointer { L.factors($0.baseAddress!, cb) }
                let meanDy = meanDys.withUnsafeBufferPointer { L.factors($0.baseAddress!, cb) }
                let proj = projs.withUnsafeBufferPointer { L.factors($0.baseAddress!, cb) }
                let m = L.factors(mean, cb)
                let start = g.offset(n, cb, 0)
                for i in 0..<g.plane {
                    let index = start + i * 16
                    let d = passed(L.self, dy, reluOutput, index)
                    L.store(dx, index, gain * (d - meanDy - (L.load(x, index) - m) * proj))
                }
            }
        }
        switch (g.element, VectorISA.current) {
        case (.f32, _): run(Float32Lanes.self)
        case (_, .portable): run(BFloat16Lanes.self)
        case (_, .avx512):
            let (dy, x, dx) = (dy.assumingMemoryBound(to: UInt16.self), x.assumingMemoryBound(to: UInt16.self),
                               dx.assumingMemoryBound(to: UInt16.self))
            let relu = reluOutput?.assumingMemoryBound(to: UInt16.self)
            let factors = gains + meanDys + projs
            factors.withUnsafeBufferPointer { f in
                let (gain, meanDy, proj) = (f.baseAddress!, f.baseAddress! + g.channels, f.baseAddress! + 2 * g.channels)
                forEachImageBlock(g) { n, cb in
                    let start = g.offset(n, cb, 0), k = cb * 16
                    ddp_bf16_normalize_backward(dy + start, x + start, relu.map { $0 + start }, g.plane,
                                                gain + k, meanDy + k, mean + k, proj + k, dx + start)
                }
            }
        }
    }

    /// Eval-mode input gradient: `dx = dy·weight·invStd`; `dx` may be `dy`'s memory.
    public static func backwardInputEval(dy: UnsafeRawPointer, _ g: Geometry, invStd: UnsafePointer<Float>,
                                         weight: UnsafePointer<Float>?, reluOutput: UnsafeRawPointer?,
                                         dx: UnsafeMutableRawPointer) {
        var gains = [Float](repeating: 0, count: g.channels)
        for c in 0..<g.channels { gains[c] = invStd[c] * (weight?[c] ?? 1) }
        func run<L: Lanes>(_: L.Type) {
            forEachImageBlock(g) { n, cb in
                let gain = gains.withUnsafeBufferPointer { L.factors($0.baseAddress!, cb) }
                let start = g.offset(n, cb, 0)
                for i in 0..<g.plane {
                    let index = start + i * 16
                    L.store(dx, index, passed(L.self, dy, reluOutput, index) * gain)
                }
            }
        }
        g.element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
    }
}

extension BlockedBatchNormKernel {
    /// Calls `body` for every image and channel block, over the rank's threads.
    @inline(__always)
    static func forEachImageBlock(_ g: Geometry, _ body: (_ n: Int, _ cb: Int) -> Void) {
        Parallel.forEach(g.batch * g.blocks, grain: max(1, 4096 / max(g.plane, 1))) { nb in
            let (n, cb) = nb.quotientAndRemainder(dividingBy: g.blocks)
            body(n, cb)
        }
    }

    /// Two per-channel sums, one channel block per task as the portable reductions split them:
    /// `body(n, cb, first, second)` adds image `n`'s part of block `cb` to sixteen doubles each.
    static func perBlockMoments(_ g: Geometry, sum: UnsafeMutablePointer<Double>, second: UnsafeMutablePointer<Double>,
                                _ body: (Int, Int, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Void) {
        Parallel.forEach(g.blocks) { cb in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 32) { acc in
                let (s, q) = (acc.baseAddress!, acc.baseAddress! + 16)
                acc.initialize(repeating: 0)
                for n in 0..<g.batch { body(n, cb, s, q) }
                for c in 0..<16 { sum[cb * 16 + c] = s[c]; second[cb * 16 + c] = q[c] }
            }
        }
    }
}

/// `dy` at `index`, zero where the saved ReLU output is not positive (ReLU's backward rule).
@inline(__always) private func passed<L: Lanes>(_: L.Type, _ dy: UnsafeRawPointer, _ reluOutput: UnsafeRawPointer?,
                                                _ index: Int) -> SIMD16<Float> {
    let d = L.load(dy, index)
    guard let reluOutput else { return d }
    return d.replacing(with: 0, where: L.load(reluOutput, index) .<= 0)
}

/// Adds per-lane `Σ first` and `Σ second` over pixels `0..<count` to `s` and `q`: float32
/// vector sums folded into Double every 256 pixels, as `BatchNormKernel` does per channel.
@inline(__always) private func reduce(_ count: Int, into s: inout [Double], _ q: inout [Double],
                                      _ values: (Int) -> (SIMD16<Float>, SIMD16<Float>)) {
    var i = 0
    while i < count {
        let end = min(count, i + 256)
        var vs = SIMD16<Float>(), vq = SIMD16<Float>()
        while i < end {
            let (a, b) = values(i)
            vs += a; vq += b; i += 1
        }
        for lane in 0..<16 { s[lane] += Double(vs[lane]); q[lane] += Double(vq[lane]) }
    }
}
