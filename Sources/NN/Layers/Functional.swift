import Autograd

/// Parameter-free layers, so they can stand in a `Sequential` as in PyTorch.
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

public final class MaxPool2d: Module, Layer {
    public let kernel: Int, stride: Int, padding: Int
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { maxPool2d(x, kernel: kernel, stride: stride, padding: padding) }
}

public final class AvgPool2d: Module, Layer {
    public let kernel: Int, stride: Int, padding: Int
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { avgPool2d(x, kernel: kernel, stride: stride, padding: padding) }
}

/// `nn.AdaptiveAvgPool2d(1)`.
public final class GlobalAvgPool2d: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { globalAvgPool2d(x) }
}

/// `nn.Flatten()`: `[N, ...] → [N, rest]`.
public final class Flatten: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.flattened(from: 1) }
}

/// `nn.UpsamplingBilinear2d(scale_factor=scale)`.
public final class UpsamplingBilinear2d: Module, Layer {
    public let scale: Int
    public init(scale: Int = 2) { self.scale = scale; super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { upsampleBilinear(x, scale: scale) }
}

/// `nn.Identity` (and `nn.Dropout(p=0)`): keeps a slot in a `Sequential` so indices match PyTorch's.
public final class Identity: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { x }
}
