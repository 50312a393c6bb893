import Autograd
import Data
import Distributed
import Kernels
import NN
import Optim

/// What one step adds up on a rank, all-reduced once at the end of the step.
public struct StepTotals: Equatable, Sendable {
    /// Σ loss·labelled positions, correctly predicted positions, labelled positions.
    public var lossSum = 0.0, correct = 0.0, labelled = 0.0
    /// Images consumed.
    public var images = 0.0
    /// Ranks that asked to stop (SIGTERM, SIGINT), and those of them that asked for a requeue (SIGUSR1).
    public var stopRequests = 0.0, requeueRequests = 0.0
    /// Samples replaced under `bad_samples: skip` since the previous step.
    public var badSamples = 0.0
    /// Samples whose label was among the five highest-scoring classes, of those counted for
    /// Acc@5 (classification with at least five classes; evaluation only).
    public var correctTop5 = 0.0, labelledTop5 = 0.0

    public init() {}

    var packed: [Double] { [lossSum, correct, labelled, images, stopRequests, requeueRequests, badSamples, correctTop5, labelledTop5] }

    init(packed p: [Double]) {
        (lossSum, correct, labelled, images, stopRequests, requeueRequests, badSamples) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6])
        (correctTop5, labelledTop5) = (p[7], p[8])
    }

    public var meanLoss: Double { labelled > 0 ? lossSum / labelled : 0 }
    public var accuracy: Double { labelled > 0 ? correct / labelled : 0 }
    /// nil where nothing was counted for Acc@5.
    public var top5Accuracy: Double? { labelledTop5 > 0 ? correctTop5 / labelledTop5 : nil }

    /// The sum over every rank.
    public func allReduced(_ communicator: Communicator) -> StepTotals {
        var values = packed
        communicator.during("the step's loss and metrics") { communicator.allReduceSum(&values) }
        return StepTotals(packed: values)
    }

    static func += (a: inout StepTotals, b: StepTotals) {
        a = StepTotals(packed: zip(a.packed, b.packed).map(+))
    }
}

/// One optimizer step as the trainer and `bench` run it: forward and backward over each
/// micro-batch (the gradients all-reduced in buckets during the last backward), the wait for
/// the all-reduce, then the optimizer step unless some rank's gradient is not finite.
public final class TrainingStep {
    public let model: LayerModule
    public let ddp: DataParallel
    public let optimizer: Optimizer
    public let labelSmoothing: Float

    /// Seconds each phase took in the last step.
    public struct Times: Sendable {
        public var forward = 0.0, backward = 0.0, allReduceWait = 0.0, optimizer = 0.0
        /// When the last backward ended (`System.now()`), to find the rank that ended last.
        public var backwardEnded = 0.0
    }
    public private(set) var times = Times()
    /// Where the step's phases and buckets are drawn (`--timeline`), if anywhere.
    public var timeline: Timeline?

    public init(model: LayerModule, ddp: DataParallel, optimizer: Optimizer, labelSmoothing: Float = 0) {
        self.model = model; self.ddp = ddp; self.optimizer = optimizer; self.labelSmoothing = labelSmoothing
    }

    /// Runs the step on this rank's micro-batches; returns this rank's totals and the ranks whose
    /// loss or gradient was not finite (the optimizer step is skipped when there are any).
    /// With `mixes` (mixup or CutMix, one per micro-batch), each loss is λ·CE(own labels) +
    /// (1−λ)·CE(predecessors' labels), and accuracy counts the dominant label, as torchvision's
    /// `utils.accuracy` takes the argmax of the mixed target.
    public func run(_ batches: [Batch], mixes: [BatchMixing.Mix] = []) -> (totals: StepTotals, nonFiniteRanks: [Int]) {
        times = Times()
        var totals = StepTotals()
        for (k, batch) in batches.enumerated() {
            ddp.synchronizesGradients = k == batches.count - 1
            let t0 = System.now()
            let logits = model(batch.images)
            let mix = mixes.indices.contains(k) ? mixes[k] : nil
            var loss = crossEntropy(logits, labels: batch.labels, labelSmoothing: labelSmoothing)
            var counted = batch.labels
            if let mix {
                let partner = crossEntropy(logits, labels: mix.partnerLabels, labelSmoothing: labelSmoothing)
                loss = loss * Float(mix.lambda) + partner * Float(1 - mix.lambda)
                if mix.lambda < 0.5 { counted = mix.partnerLabels }
            }
            let t1 = System.now()
            (batches.count > 1 ? loss * (1 / Float(batches.count)) : loss).backward()
            let t1b = System.now()
            times.forward += t1 - t0
            times.backward += t1b - t1
            timeline?.record("forward", "compute", start: t0, end: t1)
            timeline?.record("backward", "compute", start: t1, end: t1b)
            let labelled = Double(batch.labels.filter { $0 >= 0 }.count)
            totals.lossSum += Double(loss.item()) * labelled
            totals.correct += Double(correctPredictions(logits, labels: counted))
            totals.labelled += labelled
            totals.images += Double(batch.count)
        }
        let t2 = System.now()
        times.backwardEnded = t2
        let nonFinite = ddp.finishGradientSynchronization()
        let t3 = System.now()
        if nonFinite.isEmpty { optimizer.step() }
        optimizer.zeroGrad()
        times.allReduceWait = t3 - t2
        times.optimizer = System.now() - t3
        if let timeline {
            timeline.record("all-reduce wait", "communication", start: t2, end: t3)
            timeline.record("optimizer", "compute", start: t3, end: t3 + times.optimizer)
            for (index, bucket) in ddp.lastBucketTimes.enumerated() {
                timeline.record("bucket \(index + 1) all-reduce", "communication", start: bucket.start, end: bucket.end, thread: 1)
            }
        }
        return (totals, nonFinite)
    }
}
