import Autograd
import Data
import Distributed
import NN

/// Loss, accuracy and sample count over a data set, every sample counted once across ranks.
public struct EvaluationResult: Sendable, Equatable {
    public var loss: Double
    /// Acc@1.
    public var accuracy: Double
    /// Acc@5, as torchvision's reference scripts report it: for classification with at least
    /// five classes, else nil.
    public var top5Accuracy: Double? = nil
    /// Mean intersection-over-union over the classes that occur: for segmentation, else nil.
    public var meanIoU: Double? = nil
    /// Every labelled position's (true, predicted) class over all ranks: for segmentation, and
    /// for classification when asked (`ddptrain eval --per-class`).
    public var confusion: ConfusionMatrix? = nil
    /// What `best.safetensors` follows: mean IoU for segmentation, Acc@1 otherwise.
    public var headline: Double { meanIoU ?? accuracy }
    /// Images evaluated (pixels are counted for the accuracy of segmentation).
    public var samples: Int
}

public enum Evaluation {
    /// A sample that does not load on one rank stops every rank at the end, with that rank's
    /// error (`badSamples: .skip` replaces it instead, as in training).
    public static func run(model: LayerModule, dataset: Dataset, communicator: Communicator, batchSize: Int,
                           workers: Int = 1, badSamples: BadSamplePolicy = .error,
                           badSampleLog: BadSampleLog = BadSampleLog(), confusionMatrix: Bool = false) throws -> EvaluationResult {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let plan = EvaluationSampler(datasetSize: dataset.count, worldSize: communicator.size, rank: communicator.rank,
                                     batchSize: batchSize).batches()
        let stream = DataLoader(dataset: dataset, workers: workers, badSamples: badSamples, badSampleLog: badSampleLog)
            .stream(plan, epoch: 0)
        var totals = StepTotals()
        var confusion = dataset.isSegmentation || confusionMatrix ? ConfusionMatrix(classes: dataset.classCount) : nil
        var failure: Error?
        do {
            while let batch = try stream.next() {
                let logits = withNoGrad { model(batch.images) }
                let labelled = Double(batch.labels.filter { $0 >= 0 }.count)
                totals.lossSum += Double(crossEntropy(logits, labels: batch.labels).item()) * labelled
                totals.correct += Double(correctPredictions(logits, labels: batch.labels))
                if reportsTop5(logits) {
                    totals.correctTop5 += Double(correctPredictions(logits, labels: batch.labels, within: 5))
                    totals.labelledTop5 += labelled
                }
                totals.labelled += labelled
                confusion?.add(logits, labels: batch.labels)
                totals.images += Double(batch.count)
            }
        } catch { failure = error }
        // The ranks that failed are counted in the same all-reduce as the sums.
        totals.stopRequests = failure == nil ? 0 : 1
        let global = totals.allReduced(communicator)
        if let failure { throw AgreedFailure(underlying: failure) }
        if global.stopRequests > 0 { throw EvaluationDataFailure(ranks: Int(global.stopRequests)) }
        let matrix = confusion?.allReduced(communicator)
        return EvaluationResult(loss: global.meanLoss, accuracy: global.accuracy, top5Accuracy: global.top5Accuracy,
                                meanIoU: dataset.isSegmentation ? matrix?.meanIntersectionOverUnion : nil, confusion: matrix,
                                samples: Int(global.images))
    }
}

/// A sample of the evaluation set did not load on another rank, which printed why.
public struct EvaluationDataFailure: RankSymmetricError, CustomStringConvertible {
    public let ranks: Int
    public var description: String { "evaluation: a sample did not load on \(ranks) rank\(ranks == 1 ? "" : "s") (see the message above)" }
}

/// Acc@5 applies to classification logits `[N, C]` with at least five classes.
func reportsTop5(_ logits: Tensor) -> Bool { logits.rank == 2 && logits.shape[1] >= 5 }

/// Positions whose label is among the `k` highest-scoring classes (`k` = 1: the arg-max);
/// logits `[N, C, ...]`, labels `N·positions`, negative labels ignored. Ties rank the lower
/// class index first, as an arg-max that keeps the first maximum does.
public func correctPredictions(_ logits: Tensor, labels: [Int32], within k: Int = 1) -> Int {
    let (n, c) = (logits.shape[0], logits.shape[1])
    let positions = logits.shape.dropFirst(2).reduce(1, *)
    var correct = 0
    for i in 0..<n {
        for p in 0..<positions {
            let label = Int(labels[i * positions + p])
            guard label >= 0 else { continue }
            let score = logits.pointer[(i * c + label) * positions + p]
            var ahead = 0
            for other in 0..<c where other != label {
                let v = logits.pointer[(i * c + other) * positions + p]
                if v > score || (v == score && other < label) || v.isNaN { ahead += 1 }
            }
            if ahead < k { correct += 1 }
        }
    }
    return correct
}
