/// One recorded operation: the inputs it read and the closure that turns the gradient of
/// its output into gradients of those inputs. The closure keeps what it saved from the
/// forward pass alive; backward drops it as soon as it has run.
public final class GradFunction {
    public let name: String
    var inputs: [Tensor]
    var apply: ((Tensor) -> [Tensor?])?

    init(name: String, inputs: [Tensor], apply: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.apply = apply
    }

    var isReleased: Bool { apply == nil }

    func release() {
        apply = nil
        inputs = []
    }
}

extension Tensor {
    /// Records `self` as the output of `name` over `inputs` when a graph is being built.
    /// `backward` receives the gradient of `self` and returns one gradient per input (nil
    /// where an input needs none). It must not capture `self` (that would be a cycle): save
    /// the output's `storage` instead.
    @discardableResult
    func record(_ name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        OpProfiler.forwardEnded(name)
        guard GradMode.isEnabled, inputs.contains(where: \.requiresGrad) else { return self }
        requiresGrad = true
        gradFunction = GradFunction(name: name, inputs: inputs, apply: backward)
        return self
    }
}
