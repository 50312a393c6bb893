import Autograd

/// `nn.LayerNorm(features)` over the last axis: weight 1, bias 0.
public final class LayerNorm: Module, Layer {
    public let weight: Tensor, bias: Tensor
    public let eps: Float

    public init(_ features: Int, eps: Float = 1e-5) {
        weight = Tensor(filling: [features], with: 1)
        bias = Tensor(zeros: [features])
        self.eps = eps
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }
}
