import Autograd

/// Updates parameters from their gradients; state is kept by parameter name so that a
/// checkpoint can save and restore it. The skeleton (the groups, parameters without a
/// gradient this step, state kept by name) is here once; an optimizer states only its rule
/// for one parameter (mlx-swift's `applySingle`).
public protocol Optimizer: AnyObject {
    var paramGroups: [ParamGroup] { get set }
    /// Per-parameter state: `state[name]["momentum_buffer"]`, `["exp_avg"]`, ...
    var state: [String: [String: Tensor]] { get set }
    /// The rule for one parameter; `state` is empty the first time the parameter is updated.
    func update(_ parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParamGroup)
}

extension Optimizer {
    /// One update of every parameter that has a gradient.
    public func step() {
        for group in paramGroups {
            for (name, parameter) in group.parameters {
                guard let gradient = parameter.grad else { continue }
                var entry = state[name] ?? [:]
                update(parameter, gradient: gradient, state: &entry, group: group)
                if !entry.isEmpty { state[name] = entry }
            }
        }
    }

    /// Clears every parameter's gradient (`Tensor.zeroGrad`).
    public func zeroGrad() {
        for group in paramGroups { for p in group.parameters { p.tensor.zeroGrad() } }
    }

    /// Sets each group's rate to its initial rate times `factor`.
    public func setLRFactor(_ factor: Double) {
        for i in paramGroups.indices { paramGroups[i].lr = paramGroups[i].initialLR * factor }
    }
}
