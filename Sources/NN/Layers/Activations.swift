import Autograd

/// Activations as layers, so they can stand in a `Sequential` as in PyTorch.
public final class ReLU: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { relu(x) }
}

public final class Sigmoid: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { sigmoid(x) }
}

public final class GELU: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { gelu(x) }
}
