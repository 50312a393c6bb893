import Autograd
import NN

/// SyncBatchNorm (`--sync-bn`): batch statistics over the whole global batch instead of each
/// rank's share. How the pieces meet:
///
/// - The batch-norm op (`Autograd/Ops/BatchNorm.swift`, kernels in `Kernels/BatchNorm.swift`)
///   computes per-channel Σx, Σx² and the count in the forward pass, and Σdy, Σdy·(x−μ) in the
///   backward pass, and hands each set to a `StatisticsReducer` when it has one, before
///   normalising. So ranks may hold different counts, and the running variance uses the
///   global unbiased variance.
/// - `BatchNorm2d` (NN) carries the reducer; `SyncBatchNorm.enable` gives every one in a model
///   this all-reducing one (`DataParallel` does, with `syncBatchNorm: true`).
/// - The weight and bias gradients are ordinary parameters: they travel in the gradient buckets.
public enum SyncBatchNorm {
    /// Makes every `BatchNorm2d` of `model` reduce its statistics over the ranks of `communicator`.
    public static func enable(in model: Module, communicator: Communicator) {
        let reducer = Reducer(communicator)
        for (_, module) in model.namedModules() { (module as? BatchNorm2d)?.reducer = reducer }
    }

    /// The statistics all-reduce through a communicator.
    final class Reducer: StatisticsReducer {
        let communicator: Communicator
        init(_ communicator: Communicator) { self.communicator = communicator }
        func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {
            communicator.during("SyncBatchNorm statistics") { communicator.allReduceSum(values) }
        }
    }
}
