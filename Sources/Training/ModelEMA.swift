import Autograd
import NN

/// An exponential moving average of the model's weights, as torchvision's classification
/// reference keeps one (`--model-ema`: `ExponentialMovingAverage`, an `AveragedModel` over
/// parameters and buffers): every `every` steps of an epoch (step 0, every, 2·every, …)
/// average ← decay·average + (1−decay)·current, element by element in float32; the first
/// update copies, and during the warm-up epochs every update copies (torchvision resets its
/// count there). The decay is torchvision's adjusted one: with α = (1 − `--ema-decay`)·world
/// size·batch per rank·every / epochs, capped at 1, the decay is 1 − α. BatchNorm's
/// `num_batches_tracked` is copied, not averaged. Evaluated beside the model, saved in the
/// checkpoint under `__ema__.`, resumed exactly.
public final class ModelEMA {
    public let decay: Double
    public let every: Int
    /// The averaged state dict (names as the model's).
    public private(set) var averaged: [(name: String, tensor: Tensor)]
    /// Updates since the last copy (torchvision's `n_averaged`).
    public internal(set) var updates = 0

    /// torchvision's adjustment of the decay to the run's batch and length.
    public static func adjustedDecay(_ decay: Double, every: Int, worldSize: Int, batchPerRank: Int, epochs: Int) -> Double {
        1 - min(1, (1 - decay) * Double(worldSize * batchPerRank * every) / Double(epochs))
    }

    public init(model: Module, decay: Double, every: Int) {
        self.decay = decay
        self.every = every
        averaged = model.stateDict().map { ($0.name, Tensor(copying: $0.tensor)) }
    }

    /// After the optimizer step of step `stepInEpoch` (from 0) of `epoch`.
    public func stepEnded(_ model: Module, stepInEpoch: Int, epoch: Int, warmupEpochs: Double) {
        guard stepInEpoch % every == 0 else { return }
        update(from: model)
        if Double(epoch) < warmupEpochs { updates = 0 }
    }

    func update(from model: Module) {
        let current = model.stateDict()
        // float32 arithmetic with the factors rounded from double, as PyTorch multiplies a float tensor by a Python float.
        let (keep, take) = (Float(decay), Float(1 - decay))
        for (k, (name, average)) in averaged.enumerated() {
            let source = current[k].tensor
            let (a, s) = (average.pointer, source.pointer)
            if updates == 0 || name.hasSuffix("num_batches_tracked") {
                a.update(from: s, count: average.count)
            } else {
                for i in 0..<average.count { a[i] = a[i] * keep + s[i] * take }
            }
        }
        updates += 1
    }

    /// Puts the average into `module` (a model of the same architecture), for evaluation.
    public func copy(into module: Module) throws {
        try module.loadStateDict(averaged, source: "the EMA")
    }

    static let countKey = "n_averaged"

    /// The state a checkpoint keeps: the averaged tensors and the update count.
    public var checkpointState: [String: Tensor] {
        var state = Dictionary(uniqueKeysWithValues: averaged.map { ($0.name, $0.tensor) })
        state[Self.countKey] = Tensor(shape: [], data: [Float(updates)])
        return state
    }

    public func restore(_ state: [String: Tensor], source: String) throws {
        for (name, tensor) in averaged {
            guard let saved = state[name], saved.shape == tensor.shape else {
                throw TrainingError("\(source): the checkpoint's EMA has no \(name) of shape \(tensor.shape)")
            }
            tensor.pointer.update(from: saved.pointer, count: tensor.count)
        }
        updates = Int(state[Self.countKey]?.item() ?? 0)
    }
}
