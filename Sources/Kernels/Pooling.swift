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
