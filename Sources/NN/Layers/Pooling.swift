import Autograd

/// `nn.MaxPool2d(kernel, stride, padding)`.
public final class MaxPool2d: Module, Layer {
    public let kernel: Int, stride: Int, padding: Int
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { maxPool2d(x, kernel: kernel, stride: stride, padding: padding) }
}

/// `nn.AdaptiveAvgPool2d(1)`.
public final class GlobalAvgPool2d: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { globalAvgPool2d(x) }
}
