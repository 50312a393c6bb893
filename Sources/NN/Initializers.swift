import Autograd
import Kernels

/// Parameter initialisation as torchvision does it, drawing from one seeded generator
/// (`manualSeed`), so that a model built twice from the same seed is the same model.
public enum Initializers {
    nonisolated(unsafe) static var generator = RandomGenerator(seed: 0)

    /// PyTorch's `torch.manual_seed` for parameter initialisation.
    public static func manualSeed(_ seed: UInt64) { generator = RandomGenerator(seed: seed) }

    /// `nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')`: std = √(2 / fan_out).
    public static func kaimingNormalFanOut(_ shape: [Int]) -> Tensor {
        let fanOut = shape[0] * shape.dropFirst(2).reduce(1, *)
        return Tensor.randn(shape, std: Float((2 / Double(max(fanOut, 1))).squareRoot()), using: &generator)
    }

    /// `nn.init.kaiming_normal_(w, mode='fan_in', nonlinearity='relu')`: std = √(2 / fan_in).
    public static func kaimingNormalFanIn(_ shape: [Int]) -> Tensor {
        Tensor.randn(shape, std: Float((2 / Double(max(fanIn(shape), 1))).squareRoot()), using: &generator)
    }

    /// PyTorch's default for Linear and conv weights (`kaiming_uniform_(a=√5)`): U(±1/√fan_in).
    public static func defaultWeight(_ shape: [Int]) -> Tensor {
        uniform(shape, bound: 1 / Double(max(fanIn(shape), 1)).squareRoot())
    }

    /// PyTorch's default bias: U(±1/√fan_in) of the layer's weight.
    public static func defaultBias(_ count: Int, fanIn: Int) -> Tensor {
        uniform([count], bound: 1 / Double(max(fanIn, 1)).squareRoot())
    }

    /// U(−bound, bound).
    public static func uniform(_ shape: [Int], bound: Double) -> Tensor {
        Tensor.uniform(shape, low: Float(-bound), high: Float(bound), using: &generator)
    }

    /// Truncated-free normal with the given std (ViT's token and position embeddings).
    public static func normal(_ shape: [Int], std: Float) -> Tensor {
        Tensor.randn(shape, std: std, using: &generator)
    }

    /// Inputs per output unit: `in_channels · kh · kw` for convs, `in_features` for Linear.
    public static func fanIn(_ shape: [Int]) -> Int { shape.count > 1 ? shape.dropFirst().reduce(1, *) : shape[0] }
}
