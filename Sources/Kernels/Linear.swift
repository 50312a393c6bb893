/// Fully connected layer, `y = x · Wᵀ + b`, over `rows` input vectors (PyTorch's weight
/// layout `[out, in]`).
public enum LinearKernel {
    public static func forward(x: UnsafePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        BLAS.sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                   b: weight, ldb: inFeatures, c: y, ldc: outFeatures)
        if let bias {
            Parallel.forEach(rows, grain: max(1, 16384 / max(outFeatures, 1))) { r in
                let row = y + r * outFeatures
                for j in 0..<outFeatures { row[j] += bias[j] }
            }
        }
    }

    /// `dx` is overwritten; `dWeight` and `dBias` are accumulated into.
    public static func backward(x: UnsafePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int,
                                weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                                dBias: UnsafeMutablePointer<Float>?) {
        if let dx {
            BLAS.sgemm(m: rows, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures, b: weight, ldb: inFeatures,
                       c: dx, ldc: inFeatures)
        }
        if let dWeight {
            BLAS.sgemm(transA: true, m: outFeatures, n: inFeatures, k: rows, a: dy, lda: outFeatures,
                       b: x, ldb: inFeatures, beta: 1, c: dWeight, ldc: inFeatures)
        }
        if let dBias {
            Parallel.forRanges(outFeatures, grain: 64) { cols in
                for j in cols {
                    var total: Float = 0
                    for r in 0..<rows { total += dy[r * outFeatures + j] }
                    dBias[j] += total
                }
            }
        }
    }
}
