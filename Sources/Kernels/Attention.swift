/// Scaled dot-product self-attention over packed projections, with the layout of
/// `nn.MultiheadAttention`: `qkv` is `[batch, length, 3·embed]` holding q | k | v, each split
/// into `heads` slices of `embed/heads` columns. The output is `[batch, length, embed]` with
/// the heads side by side, ready for `out_proj`.
public struct AttentionShape: Equatable, Sendable {
    public var batch, length, embed, heads: Int
    public init(batch: Int, length: Int, embed: Int, heads: Int) {
        self.batch = batch; self.length = length; self.embed = embed; self.heads = heads
    }
    public var headDim: Int { embed / heads }
    public var probabilityCount: Int { batch * heads * length * length }
}

public enum AttentionKernel {
    /// Writes `out` and the attention weights `probabilities` `[batch, heads, L, L]` for backward.
    public static func forward(_ s: AttentionShape, qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                               probabilities: UnsafeMutablePointer<Float>) {
        let (l, e, d) = (s.length, s.embed, s.headDim)
        let rowStride = 3 * e
        let scale = 1 / Float(d).squareRoot()
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                let q = qkv + b * l * rowStride + h * d
                let k = q + e, v = q + 2 * e
                let p = probabilities + (b * s.heads + h) * l * l
                // S = Q Kᵀ / √d, then softmax by rows
                BLAS.sgemm(transB: true, m: l, n: l, k: d, alpha: scale, a: q, lda: rowStride, b: k, ldb: rowStride,
                           c: p, ldc: l)
                for r in 0..<l { softmaxRow(p + r * l, p + r * l, l) }
                BLAS.sgemm(m: l, n: d, k: l, a: p, lda: l, b: v, ldb: rowStride, c: out + b * l * e + h * d, ldc: e)
            }
        }
    }

    /// Overwrites `dqkv` with the gradient for the packed projections; `scratch` holds `L·L` floats.
    public static func backward(_ s: AttentionShape, qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
                                dOut: UnsafePointer<Float>, dqkv: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>) {
        let (l, e, d) = (s.length, s.embed, s.headDim)
        let rowStride = 3 * e
        let scale = 1 / Float(d).squareRoot()
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                let q = qkv + b * l * rowStride + h * d
                let k = q + e, v = q + 2 * e
                let dq = dqkv + b * l * rowStride + h * d
                let dk = dq + e, dv = dq + 2 * e
                let p = probabilities + (b * s.heads + h) * l * l
                let dO = dOut + b * l * e + h * d
                // dV = Pᵀ dO
                BLAS.sgemm(transA: true, m: l, n: d, k: l, a: p, lda: l, b: dO, ldb: e, c: dv, ldc: rowStride)
                // dP = dO Vᵀ, then through the softmax: dS = P ∘ (dP − rowsum(dP ∘ P))
                BLAS.sgemm(transB: true, m: l, n: l, k: d, a: dO, lda: e, b: v, ldb: rowStride, c: scratch, ldc: l)
                for r in 0..<l {
                    let pr = p + r * l, gr = scratch + r * l
                    var dot: Float = 0
                    for j in 0..<l { dot += pr[j] * gr[j] }
                    for j in 0..<l { gr[j] = pr[j] * (gr[j] - dot) }
                }
                // dQ = dS K / √d ; dK = dSᵀ Q / √d
                BLAS.sgemm(m: l, n: d, k: l, alpha: scale, a: scratch, lda: l, b: k, ldb: rowStride, c: dq, ldc: rowStride)
                BLAS.sgemm(transA: true, m: l, n: d, k: l, alpha: scale, a: scratch, lda: l, b: q, ldb: rowStride,
                           c: dk, ldc: rowStride)
            }
        }
    }
}
