import Autograd

/// `nn.MultiheadAttention(embed, heads, batch_first=True)` used as self-attention:
/// `in_proj_weight [3E, E]`, `in_proj_bias [3E]`, `out_proj.weight`, `out_proj.bias`.
public final class MultiheadAttention: Module, Layer {
    public let inProjWeight: Tensor, inProjBias: Tensor
    public let outProj: Linear
    public let heads: Int

    public init(embed: Int, heads: Int) {
        precondition(heads > 0 && embed % heads == 0, "MultiheadAttention: embed \(embed) not divisible by \(heads) heads")
        // PyTorch: xavier_uniform_ on in_proj_weight, zero biases.
        inProjWeight = Initializers.uniform([3 * embed, embed], bound: (6 / Double(embed + 3 * embed)).squareRoot())
        inProjBias = Tensor(zeros: [3 * embed])
        outProj = Linear(embed, embed)
        outProj.bias!.pointer.update(repeating: 0, count: embed)
        self.heads = heads
        super.init()
        registerParameter("in_proj_weight", inProjWeight)
        registerParameter("in_proj_bias", inProjBias)
        registerModule("out_proj", outProj)
    }

    /// Self-attention of `x [B, L, E]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let qkv = linear(x, weight: inProjWeight, bias: inProjBias)
        return outProj(selfAttention(packed: qkv, heads: heads))
    }
}
