import Autograd

/// `nn.Flatten()`: `[N, ...] → [N, rest]`.
public final class Flatten: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.flattened(from: 1) }
}

/// `nn.Identity` (and `nn.Dropout(p=0)`): keeps a slot in a `Sequential` so indices match PyTorch's.
public final class Identity: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { x }
}
