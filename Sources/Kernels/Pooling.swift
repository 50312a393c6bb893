/// Max and average pooling over NCHW planes (floor mode, as PyTorch's default).
public struct Pool2dShape: Equatable, Sendable {
    public var batch, channels, height, width: Int
    public var kernel, stride, padding: Int

    public init(batch: Int, channels: Int, height: Int, width: Int, kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
    }
    public var outH: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outW: Int { (width + 2 * padding - kernel) / stride + 1 }
    public var planes: Int { batch * channels }
    public var inputCount: Int { planes * height * width }
    public var outputCount: Int { planes * outH * outW }
}

public enum PoolKernel {
    /// Max pool; `argmax` receives, per output, the flat index of the winner inside its plane.
    public static func maxForward(_ s: Pool2dShape, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                  argmax: UnsafeMutablePointer<Int32>) {
        let (oh, ow) = (s.outH, s.outW)
        if s.kernel == 3 && s.stride == 2 && s.padding == 1 {
            maxForward3x3Stride2(s, x: x, y: y, argmax: argmax)
            return
        }
        Parallel.forEach(s.planes, grain: max(1, 4096 / max(oh * ow * s.kernel * s.kernel, 1))) { p in
            let src = x + p * s.height * s.width
            for oy in 0..<oh {
                let y0 = oy * s.stride - s.padding
                let ys = max(y0, 0)..<min(y0 + s.kernel, s.height)
                for ox in 0..<ow {
                    let x0 = ox * s.stride - s.padding
                    let xs = max(x0, 0)..<min(x0 + s.kernel, s.width)
                    var best = -Float.infinity
                    var at = ys.lowerBound * s.width + xs.lowerBound
                    for iy in ys {
                        for ix in xs {
                            let v = src[iy * s.width + ix]
                            // NaN propagates, as in PyTorch
                            if v > best || (v.isNaN && !best.isNaN) { best = v; at = iy * s.width + ix }
                        }
                    }
                    let o = (p * oh + oy) * ow + ox
                    y[o] = best
                    argmax[o] = Int32(at)
                }
            }
        }
    }

    /// The ResNet stem's 3x3 stride-2 pad-1 max pool, eight outputs of a row at a time with
    /// vector compares and selects (the general loop's per-tap branches mispredict on real data).
    /// Each input row is split into its even columns
    /// and its odd columns shifted by one, so the three taps of outputs `ox…ox+7` are contiguous
    /// runs; padding reads −∞, which never wins. Same winner as the general loop: the first
    /// maximum in row-major order, NaN propagating.
    static func maxForward3x3Stride2(_ s: Pool2dShape, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                     argmax: UnsafeMutablePointer<Int32>) {
        let (h, w, oh, ow) = (s.height, s.width, s.outH, s.outW)
        let lanes = 8, padded = (ow + lanes - 1) / lanes * lanes + 1
        Parallel.forRanges(s.planes, grain: max(1, 4096 / max(oh * ow * 9, 1))) { planes in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 6 * padded) { buffer in
                // For each of the window's three rows: even[k] = column 2k, odd[k] = column 2k − 1.
                let even = buffer.baseAddress!, odd = even + 3 * padded
                for p in planes {
                    let src = x + p * h * w
                    for oy in 0..<oh {
                        for ky in 0..<3 {
                            let (e, o) = (even + ky * padded, odd + ky * padded)
                            e.update(repeating: -.infinity, count: padded)
                            o.update(repeating: -.infinity, count: padded)
                            let iy = 2 * oy - 1 + ky
                            guard iy >= 0 && iy < h else { continue }
                            let row = src + iy * w
                            for k in 0..<(w + 1) / 2 { e[k] = row[2 * k] }
                            for k in 0..<w / 2 { o[k + 1] = row[2 * k + 1] }
                        }
                        var ox = 0
                        while ox < ow {
                            let lane = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &+ Int32(ox)
                            // The window's first valid input: row max(2oy − 1, 0), column max(2ox − 1, 0).
                            let firstRow = Int32(max(2 * oy - 1, 0) * w)
                            var at = SIMD8<Int32>(repeating: firstRow) &+ (2 &* lane &- 1).replacing(with: 0, where: lane .== 0)
                            var best = SIMD8<Float>(repeating: -.infinity)
                            for ky in 0..<3 {
                                let iy = 2 * oy - 1 + ky
                                guard iy >= 0 && iy < h else { continue }
                                let (e, o) = (even + ky * padded + ox, odd + ky * padded + ox)
                                for kx in 0..<3 {
                                    let run = kx == 0 ? o : kx == 1 ? e : o + 1
                                    let v = UnsafeRawPointer(run).loadUnaligned(as: SIMD8<Float>.self)
                                    let take = (v .> best) .| ((v .!= v) .& (best .== best))
                                    best.replace(with: v, where: take)
                                    at.replace(with: Int32(iy * w + kx - 1) &+ 2 &* lane, where: take)
                                }
                            }
                            let n = min(lanes, ow - ox)
                            let base = (p * oh + oy) * ow + ox
                            for i in 0..<n { y[base + i] = best[i]; argmax[base + i] = at[i] }
                            ox += lanes
                        }
                    }
                }
            }
        }
    }

    /// `dx` is overwritten: each output's gradient goes to the input that won.
    public static func maxBackward(_ s: Pool2dShape, dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
                                   dx: UnsafeMutablePointer<Float>) {
        let outPlane = s.outH * s.outW, inPlane = s.height * s.width
        Parallel.forEach(s.planes, grain: max(1, 4096 / max(inPlane, 1))) { p in
            let dst = dx + p * inPlane
            dst.update(repeating: 0, count: inPlane)
            for o in 0..<outPlane { dst[Int(argmax[p * outPlane + o])] += dy[p * outPlane + o] }
        }
    }

    /// Average pool, padding counted in the divisor (`count_include_pad=True`, PyTorch's default).
    public static func averageForward(_ s: Pool2dShape, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let (oh, ow) = (s.outH, s.outW)
        let scale = 1 / Float(s.kernel * s.kernel)
        Parallel.forEach(s.planes, grain: max(1, 4096 / max(oh * ow * s.kernel * s.kernel, 1))) { p in
            let src = x + p * s.height * s.width
            for oy in 0..<oh {
                let y0 = oy * s.stride - s.padding
                for ox in 0..<ow {
                    let x0 = ox * s.stride - s.padding
                    var total: Float = 0
                    for iy in max(y0, 0)..<min(y0 + s.kernel, s.height) {
                        for ix in max(x0, 0)..<min(x0 + s.kernel, s.width) { total += src[iy * s.width + ix] }
                    }
                    y[(p * oh + oy) * ow + ox] = total * scale
                }
            }
        }
    }

    public static func averageBackward(_ s: Pool2dShape, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        let (oh, ow) = (s.outH, s.outW)
        let inPlane = s.height * s.width
        let scale = 1 / Float(s.kernel * s.kernel)
        Parallel.forEach(s.planes, grain: max(1, 4096 / max(inPlane, 1))) { p in
            let dst = dx + p * inPlane
            dst.update(repeating: 0, count: inPlane)
            for oy in 0..<oh {
                let y0 = oy * s.stride - s.padding
                for ox in 0..<ow {
                    let x0 = ox * s.stride - s.padding
                    let g = dy[(p * oh + oy) * ow + ox] * scale
                    for iy in max(y0, 0)..<min(y0 + s.kernel, s.height) {
                        for ix in max(x0, 0)..<min(x0 + s.kernel, s.width) { dst[iy * s.width + ix] += g }
                    }
                }
            }
        }
    }

    /// Mean of each plane: `[planes, plane] → [planes]`.
    public static func globalAverageForward(x: UnsafePointer<Float>, planes: Int, plane: Int, y: UnsafeMutablePointer<Float>) {
        Parallel.forEach(planes, grain: max(1, 16384 / max(plane, 1))) { p in
            let src = x + p * plane
            var total: Float = 0
            for i in 0..<plane { total += src[i] }
            y[p] = total / Float(plane)
        }
    }

    public static func globalAverageBackward(dy: UnsafePointer<Float>, planes: Int, plane: Int, dx: UnsafeMutablePointer<Float>) {
        Parallel.forEach(planes, grain: max(1, 16384 / max(plane, 1))) { p in
            (dx + p * plane).update(repeating: dy[p] / Float(plane), count: plane)
        }
    }
}
