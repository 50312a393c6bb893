import Autograd
import NN

/// Squeeze-and-excitation: global average pool → Linear(c, c/r, no bias) → ReLU →
/// Linear(c/r, c, no bias) → Sigmoid → rescale the input's channels.
/// Keys: `fc.0.weight`, `fc.2.weight`.
public final class SqueezeExcitation: Module, Layer {
    public let fc: Sequential

    public init(channels: Int, reduction: Int = 16) {
        let hidden = max(channels / reduction, 1)
        fc = Sequential(Linear(channels, hidden, bias: false), ReLU(), Linear(hidden, channels, bias: false), Sigmoid())
        super.init()
        registerModule("fc", fc)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (n, c) = (x.shape[0], x.shape[1])
        let scale = fc(globalAvgPool2d(x).reshaped([n, c])).reshaped([n, c, 1, 1])
        return x * scale
    }
}
