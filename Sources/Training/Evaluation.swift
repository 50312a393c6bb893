import Autograd
import Data
import Distributed
import NN

/// Loss, accuracy and sample count over a data set, every sample counted once across ranks.
public struct EvaluationResult: Sendable, Equatable {
    public var loss: Double
    public var accuracy: Double
    /// Images evaluated (pixels are counted for the accuracy of segmentation).
    public var samples: Int
}

public enum Evaluation {
    /// A sample that does not load on one rank stops every rank at the end, with that rank's
    /// error (`badSamples: .skip` replaces it instead, as in training).
    public static func run(model: LayerModule, dataset: Dataset, communicator: Communicator, batchSize: Int,
                           workers: Int = 1, badSamples: BadSamplePolicy = .error,
                           badSampleLog: BadSampleLog = BadSampleLog()) throws -> EvaluationResult {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let plan = EvaluationSampler(datasetSize: dataset.count, worldSize: communicator.size, rank: communicator.rank,
                                     batchSize: batchSize).batches()
        let stream = DataLoader(dataset: dataset, workers: workers, badSamples: badSamples, badSampleLog: badSampleLog)
            .stream(plan, epoch: 0)
        var totals = StepTotals()
        var failure: Error?
        do {
            while let batch = try stream.next() {
                let logits = withNoGrad { model(batch.images) }
                let labelled = Double(batch.labels.filter { $0 >= 0 }.count)
                totals.lossSum += Double(crossEntropy(logits, labels: batch.labels).item()) * labelled
                totals.correct += Double(correctPredictions(logits, labels: batch.labels))
                totals.labelled += labelled
                totals.images += Double(batch.count)
            }
        } catch { failure = error }
        // The ranks that failed are counted in the same all-reduce as the sums.
        totals.stopRequests = failure == nil ? 0 : 1
        let global = totals.allReduced(communicator)
        if let failure { throw AgreedFailure(underlying: failure) }
        if global.stopRequests > 0 { throw EvaluationDataFailure(ranks: Int(global.stopRequests)) }
        return EvaluationResult(loss: global.meanLoss, accuracy: global.accuracy, samples: Int(global.images))
    }
}

/// A sample of the evaluation set did not load on another rank, which printed why.
public struct EvaluationDataFailure: RankSymmetricError, CustomStringConvertible {
    public let ranks: Int
    public var description: String { "evaluation: a sample did not load on \(ranks) rank\(ranks == 1 ? "" : "s") (see the message above)" }
}

/// Positions whose highest-scoring class is the label; logits `[N, C, ...]`, labels `N·positions`.
public func correctPredictions(_ logits: Tensor, labels: [Int32]) -> Int {
    let (n, c) = (logits.shape[0], logits.shape[1])
    let positions = logits.shape.dropFirst(2).reduce(1, *)
    var correct = 0
    for i in 0..<n {
        for p in 0..<positions {
            let label = labels[i * positions + p]
            guard label >= 0 else { continue }
            var best = 0
            var bestValue = -Float.infinity
            for k in 0..<c {
                let v = logits.pointer[(i * c + k) * positions + p]
                if v > bestValue { bestValue = v; best = k }
            }
            if best == Int(label) { correct += 1 }
        }
    }
    return correct
}
