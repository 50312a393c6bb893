import Autograd

/// `nn.BatchNorm2d`: weight 1, bias 0, running mean 0 and variance 1, momentum 0.1, eps 1e-5.
/// Set `reducer` to synchronise training statistics across ranks (SyncBatchNorm).
public final class BatchNorm2d: Module, Layer {
    public let weight: Tensor, bias: Tensor
    public let runningMean: Tensor, runningVar: Tensor
    /// `num_batches_tracked`, kept as a one-element tensor (an int64 in PyTorch's files).
    public let numBatchesTracked: Tensor
    public let momentum: Double, eps: Double
    public var reducer: StatisticsReducer?

    public init(_ channels: Int, momentum: Double = 0.1, eps: Double = 1e-5) {
        weight = Tensor(filling: [channels], with: 1)
        bias = Tensor(zeros: [channels])
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(filling: [channels], with: 1)
        numBatchesTracked = Tensor(zeros: [])
        self.momentum = momentum
        self.eps = eps
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
        registerBuffer("num_batches_tracked", numBatchesTracked)
    }

    public var channels: Int { weight.count }

    public func callAsFunction(_ x: Tensor) -> Tensor { callAsFunction(x, relu: false) }

    /// With `relu`, `relu(bn(x))` in the batch norm's own passes.
    public func callAsFunction(_ x: Tensor, relu: Bool) -> Tensor {
        if isTraining { numBatchesTracked.pointer[0] += 1 }
        return batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                           training: isTraining, momentum: momentum, eps: eps, reducer: isTraining ? reducer : nil, relu: relu)
    }
}
