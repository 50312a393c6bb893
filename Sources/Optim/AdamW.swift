import Autograd
import Kernels
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// `torch.optim.AdamW` with PyTorch's rule (decoupled weight decay, no amsgrad):
///
///     p = p · (1 − lr · weight_decay)
///     m = β1 m + (1 − β1) g ;  v = β2 v + (1 − β2) g²
///     p = p − lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
public final class AdamW: Optimizer {
    public var paramGroups: [ParamGroup]
    public var state: [String: [String: Tensor]] = [:]
    public let beta1: Double, beta2: Double, eps: Double

    public init(_ groups: [ParamGroup], betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8) {
        self.paramGroups = groups
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.eps = eps
    }

    public func update(_ p: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParamGroup) {
        if state.isEmpty {
            state = ["step": Tensor(zeros: []), "exp_avg": Tensor(zeros: p.shape), "exp_avg_sq": Tensor(zeros: p.shape)]
        }
        let stepTensor = state["step"]!
        stepTensor.pointer[0] += 1
        let t = Double(stepTensor.pointer[0])
        let biasCorrection1 = 1 - pow(beta1, t)
        let biasCorrection2Sqrt = (1 - pow(beta2, t)).squareRoot()
        let stepSize = Float(group.lr / biasCorrection1)
        let decay = Float(1 - group.lr * group.weightDecay)
        let (b1, b2, e) = (Float(beta1), Float(beta2), Float(eps))
        let invBc2 = Float(1 / biasCorrection2Sqrt)
        let w = p.pointer, g = gradient.pointer
        let m = state["exp_avg"]!.pointer, v = state["exp_avg_sq"]!.pointer
        Parallel.forRanges(p.count, grain: 65536) { r in
            for i in r {
                w[i] *= decay
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                w[i] -= stepSize * m[i] / (v[i].squareRoot() * invBc2 + e)
            }
        }
    }
}
