import Autograd

/// `nn.Linear` with PyTorch's default initialisation.
public final class Linear: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: invalid features \(inFeatures) -> \(outFeatures)")
        weight = Initializers.defaultWeight([outFeatures, inFeatures])
        self.bias = bias ? Initializers.defaultBias(outFeatures, fanIn: inFeatures) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }
}
