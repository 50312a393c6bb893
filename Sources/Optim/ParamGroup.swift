import Autograd

/// A set of parameters sharing a learning rate and weight decay (PyTorch's `param_groups`).
public struct ParamGroup {
    public var parameters: [(name: String, tensor: Tensor)]
    /// The rate this group starts from; schedules scale it.
    public var initialLR: Double
    /// The rate the next `step()` uses.
    public var lr: Double
    public var weightDecay: Double

    public init(parameters: [(name: String, tensor: Tensor)], lr: Double, weightDecay: Double = 0) {
        self.parameters = parameters
        self.initialLR = lr
        self.lr = lr
        self.weightDecay = weightDecay
    }

    /// Two groups: weights with `weightDecay`, and BatchNorm/LayerNorm parameters and biases
    /// (every tensor of rank ≤ 1) without, as most ImageNet recipes do.
    public static func decayingWeightsOnly(_ named: [(name: String, tensor: Tensor)], lr: Double,
                                           weightDecay: Double) -> [ParamGroup] {
        let decay = named.filter { $0.tensor.rank > 1 }
        let noDecay = named.filter { $0.tensor.rank <= 1 }
        return [ParamGroup(parameters: decay, lr: lr, weightDecay: weightDecay),
                ParamGroup(parameters: noDecay, lr: lr, weightDecay: 0)].filter { !$0.parameters.isEmpty }
    }
}
