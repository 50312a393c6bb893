/// Where the gradient of one input of a recorded operation goes.
enum GradEdge {
    /// The input was made by another recorded operation.
    case function(GradFunction)
    /// The input is a leaf that requires a gradient.
    case leaf(Tensor)
    /// The input needs no gradient.
    case none
}

/// One recorded operation: where its inputs came from and the closure that turns the gradient
/// of its output into gradients of those inputs.
///
/// The graph holds operations, not the tensors that flowed between them: an intermediate
/// tensor lives only as long as the model holds it or some backward closure saved it (as
/// PyTorch's graph does), so a ReLU's input or a residual sum is freed in the forward pass
/// already. The closure keeps what it saved alive; backward drops it as soon as it has run.
public final class GradFunction {
    public let name: String
    var edges: [GradEdge]
    /// Element count of each input, for checking the gradients `apply` returns.
    let inputCounts: [Int]
    var apply: ((Tensor) -> [Tensor?])?

    init(name: String, inputs: [Tensor], apply: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.edges = inputs.map { input in
            if let producer = input.gradFunction { return .function(producer) }
            return input.requiresGrad ? .leaf(input) : .none
        }
        self.inputCounts = inputs.map(\.count)
        self.apply = apply
    }

    var isReleased: Bool { apply == nil }

    func release() {
        apply = nil
        edges = []
    }
}

extension Tensor {
    /// Records `self` as the output of `op` over `inputs` when a graph is being built (and in a trace).
    /// `backward` receives the gradient of `self` and returns one gradient per input (nil
    /// where an input needs none). It must not capture `self` (that would be a cycle): save
    /// the output's `storage` instead; and it should capture an input only when it needs its
    /// values (capture `shape` for shapes), or the input stays alive until backward.
    @discardableResult
    func record(_ op: OpKind, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        Tracer.add(op, inputs: inputs, output: self)
        let name = op.name
        OpProfiler.forwardEnded(name)
        guard GradMode.isEnabled, inputs.contains(where: \.requiresGrad) else { return self }
        requiresGrad = true
        gradFunction = GradFunction(name: name, inputs: inputs, apply: backward)
        return self
    }
}
