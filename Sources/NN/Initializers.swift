import Autograd
import Kernels

/// Parameter initialisation as torchvision does it, drawing from one seeded generator
/// (`manualSeed`), so that a model built twice from the same seed is the same model.
public enum Initializers {
    nonisolated(unsafe) static var generator = RandomGenerator(seed: 0)

    nonisolated(unsafe) private static var skipsRandomValues = false

    /// Builds models whose random parameters are left at zero: for counting parameters and
    /// FLOPs, where only shapes matter and drawing hundreds of millions of values would dominate.
    public static func withoutRandomValues<T>(_ body: () throws -> T) rethrows -> T {
        let previous = skipsRandomValues
        skipsRandomValues = true
        defer { skipsRandomValues = previous }
        return try body()
    }

    /// PyTorch's `torch.manual_seed` for parameter initialisation.
    public static func manualSeed(_ seed: UInt64) { generator = RandomGenerator(seed: seed) }

    /// `nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')`: std = √(2 / fan_out).
    public static func kaimingNormalFanOut(_ shape: [Int]) -> Tensor {
        let fanOut = shape[0] * shape.dropFirst(2).reduce(1, *)
        return normal(shape, std: Float((2 / Double(max(fanOut, 1))).squareRoot()))
    }

    /// `nn.init.kaiming_normal_(w, mode='fan_in', nonlinearity='relu')`: std = √(2 / fan_in).
    public static func kaimingNormalFanIn(_ shape: [Int]) -> Tensor {
        normal(shape, std: Float((2 / Double(max(fanIn(shape), 1))).squareRoot()))
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
        if skipsRandomValues { return Tensor(zeros: shape) }
        return Tensor.uniform(shape, low: Float(-bound), high: Float(bound), using: &generator)
    }

    /// N(0, std²).
    public static func normal(_ shape: [Int], std: Float) -> Tensor {
        if skipsRandomValues { return Tensor(zeros: shape) }
        return Tensor.randn(shape, std: std, using: &generator)
    }

    /// Inputs per output unit: `in_channels · kh · kw` for convs, `in_features` for Linear.
    public static func fanIn(_ shape: [Int]) -> Int { shape.count > 1 ? shape.dropFirst().reduce(1, *) : shape[0] }
}
