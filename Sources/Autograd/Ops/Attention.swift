import Kernels

/// Multi-head scaled dot-product self-attention over packed projections `[B, L, 3E]`
/// (q | k | v, as `nn.MultiheadAttention`'s `in_proj` produces them) → `[B, L, E]`.
public func selfAttention(packed qkv: Tensor, heads: Int) -> Tensor {
    precondition(qkv.rank == 3 && qkv.shape[2] % 3 == 0, "attention: packed qkv must be [B, L, 3E], got \(qkv.shape)")
    let s = AttentionShape(batch: qkv.shape[0], length: qkv.shape[1], embed: qkv.shape[2] / 3, heads: heads)
    precondition(heads > 0 && s.embed % heads == 0, "attention: embed \(s.embed) is not divisible by \(heads) heads")
    let out = Tensor(uninitialized: [s.batch, s.length, s.embed])
    FLOPCounter.add(4 * Double(s.batch * s.length * s.length) * Double(s.embed))
    let probabilities = Tensor(uninitialized: [s.batch, heads, s.length, s.length])
    AttentionKernel.forward(s, qkv: qkv.pointer, out: out.pointer, probabilities: probabilities.pointer)
    return out.record(.selfAttention(heads: heads), inputs: [qkv]) { dy in
        let dqkv = Tensor(uninitialized: qkv.shape)
        let scratch = Workspace(count: s.length * s.length)
        AttentionKernel.backward(s, qkv: qkv.pointer, probabilities: probabilities.pointer, dOut: dy.pointer,
                                 dqkv: dqkv.pointer, scratch: scratch.pointer!)
        return [dqkv]
    }
}
