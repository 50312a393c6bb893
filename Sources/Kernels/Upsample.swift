/// Bilinear upsampling with `align_corners=True` (`nn.UpsamplingBilinear2d`): the corner
/// pixels of input and output coincide, so source = out · (in − 1) / (out − 1).
public enum UpsampleKernel {
    @inline(__always)
    static func source(_ o: Int, inSize: Int, outSize: Int) -> (Int, Int, Float) {
        let scale = outSize > 1 ? Float(inSize - 1) / Float(outSize - 1) : 0
        let position = Float(o) * scale
        let lower = min(Int(position), inSize - 1)
        let upper = min(lower + 1, inSize - 1)
        return (lower, upper, position - Float(lower))
    }

    public static func bilinearForward(x: UnsafePointer<Float>, planes: Int, height: Int, width: Int,
                                       outH: Int, outW: Int, y: UnsafeMutablePointer<Float>) {
        Parallel.forEach(planes, grain: max(1, 4096 / max(outH * outW, 1))) { p in
            let src = x + p * height * width, dst = y + p * outH * outW
            for oy in 0..<outH {
                let (y0, y1, ly) = source(oy, inSize: height, outSize: outH)
                for ox in 0..<outW {
                    let (x0, x1, lx) = source(ox, inSize: width, outSize: outW)
                    let top = src[y0 * width + x0] * (1 - lx) + src[y0 * width + x1] * lx
                    let bottom = src[y1 * width + x0] * (1 - lx) + src[y1 * width + x1] * lx
                    dst[oy * outW + ox] = top * (1 - ly) + bottom * ly
                }
            }
        }
    }

    /// `dx` is overwritten with the adjoint of the interpolation.
    public static func bilinearBackward(dy: UnsafePointer<Float>, planes: Int, height: Int, width: Int,
                                        outH: Int, outW: Int, dx: UnsafeMutablePointer<Float>) {
        Parallel.forEach(planes, grain: max(1, 4096 / max(outH * outW, 1))) { p in
            let src = dy + p * outH * outW, dst = dx + p * height * width
            dst.update(repeating: 0, count: height * width)
            for oy in 0..<outH {
                let (y0, y1, ly) = source(oy, inSize: height, outSize: outH)
                for ox in 0..<outW {
                    let (x0, x1, lx) = source(ox, inSize: width, outSize: outW)
                    let g = src[oy * outW + ox]
                    dst[y0 * width + x0] += g * (1 - ly) * (1 - lx)
                    dst[y0 * width + x1] += g * (1 - ly) * lx
                    dst[y1 * width + x0] += g * ly * (1 - lx)
                    dst[y1 * width + x1] += g * ly * lx
                }
            }
        }
    }
}
