/// Layer normalisation over the last axis of `[rows, length]` with elementwise affine.
public enum LayerNormKernel {
    /// Writes `y`, and per row the `mean` and `rstd` that backward needs.
    public static func forward(x: UnsafePointer<Float>, rows: Int, length: Int, eps: Float,
                               weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                               y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                               rstd: UnsafeMutablePointer<Float>) {
        Parallel.forEach(rows, grain: max(1, 8192 / max(length, 1))) { r in
            let src = x + r * length, dst = y + r * length
            var s: Double = 0
            for i in 0..<length { s += Double(src[i]) }
            let mu = s / Double(length)
            var q: Double = 0
            for i in 0..<length { let d = Double(src[i]) - mu; q += d * d }
            let inv = Float(1 / (q / Double(length) + Double(eps)).squareRoot())
            let m = Float(mu)
            mean[r] = m; rstd[r] = inv
            for i in 0..<length { dst[i] = (src[i] - m) * inv * (weight?[i] ?? 1) + (bias?[i] ?? 0) }
        }
    }

    /// `dx` is overwritten; `dWeight` and `dBias` are accumulated into.
    public static func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows: Int, length: Int,
                                weight: UnsafePointer<Float>?, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>?,
                                dBias: UnsafeMutablePointer<Float>?) {
        Parallel.forEach(rows, grain: max(1, 8192 / max(length, 1))) { r in
            let src = x + r * length, g = dy + r * length, out = dx + r * length
            let m = mean[r], inv = rstd[r]
            var sumG: Float = 0, sumGX: Float = 0
            for i in 0..<length {
                let gh = g[i] * (weight?[i] ?? 1)
                sumG += gh; sumGX += gh * (src[i] - m) * inv
            }
            let n = Float(length)
            for i in 0..<length {
                let gh = g[i] * (weight?[i] ?? 1)
                let xh = (src[i] - m) * inv
                out[i] = inv * (gh - sumG / n - xh * sumGX / n)
            }
        }
        if dWeight != nil || dBias != nil {
            Parallel.forRanges(length, grain: 16) { cols in
                for i in cols {
                    var w: Float = 0, b: Float = 0
                    for r in 0..<rows {
                        let g = dy[r * length + i]
                        w += g * (x[r * length + i] - mean[r]) * rstd[r]
                        b += g
                    }
                    dWeight?[i] += w
                    dBias?[i] += b
                }
            }
        }
    }
}
