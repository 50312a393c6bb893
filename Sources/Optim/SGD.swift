import Autograd
import Kernels

/// `torch.optim.SGD` with PyTorch's exact rule (dampening 0 by default):
///
///     g = grad + weight_decay · p
///     buf = g (first step), else momentum · buf + (1 − dampening) · g
///     g = g + momentum · buf (nesterov), else buf
///     p = p − lr · g
public final class SGD: Optimizer {
    public var paramGroups: [ParamGroup]
    public var state: [String: [String: Tensor]] = [:]
    public let momentum: Double, dampening: Double, nesterov: Bool

    public init(_ groups: [ParamGroup], momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: nesterov needs momentum and zero dampening")
        self.paramGroups = groups
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
    }

    public func update(_ p: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParamGroup) {
        let lr = Float(group.lr), wd = Float(group.weightDecay)
        let mu = Float(momentum), damp = Float(1 - dampening), nesterov = nesterov
        let n = p.count
        let w = p.pointer, g = gradient.pointer
        if momentum == 0 {
            Parallel.forRanges(n, grain: 65536) { r in for i in r { w[i] -= lr * (g[i] + wd * w[i]) } }
            return
        }
        if let buffer = state["momentum_buffer"] {
            let b = buffer.pointer
            Parallel.forRanges(n, grain: 65536) { r in
                for i in r {
                    let d = g[i] + wd * w[i]
                    b[i] = mu * b[i] + damp * d
                    w[i] -= lr * (nesterov ? d + mu * b[i] : b[i])
                }
            }
        } else {
            // PyTorch's first step: the buffer is the gradient itself, undamped.
            let buffer = Tensor(uninitialized: p.shape)
            let b = buffer.pointer
            Parallel.forRanges(n, grain: 65536) { r in
                for i in r {
                    let d = g[i] + wd * w[i]
                    b[i] = d
                    w[i] -= lr * (nesterov ? d + mu * d : d)
                }
            }
            state["momentum_buffer"] = buffer
        }
    }
}
