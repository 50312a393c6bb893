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
    public static func run(model: LayerModule, dataset: Dataset, communicator: Communicator, batchSize: Int,
                           workers: Int = 1) throws -> EvaluationResult {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let plan = EvaluationSampler(datasetSize: dataset.count, worldSize: communicator.size, rank: communicator.rank,
                                     batchSize: batchSize).batches()
        let stream = DataLoader(dataset: dataset, workers: workers).stream(plan, epoch: 0)
        // loss · labelled positions, correct positions, labelled positions, images
        var totals = [0.0, 0.0, 0.0, 0.0]
        while let batch = try stream.next() {
            let logits = withNoGrad { model(batch.images) }
            let labelled = batch.labels.filter { $0 >= 0 }.count
            totals[0] += Double(crossEntropy(logits, labels: batch.labels).item()) * Double(labelled)
            totals[1] += Double(correctPredictions(logits, labels: batch.labels))
            totals[2] += Double(labelled)
            totals[3] += Double(batch.count)
        }
        communicator.allReduceSum(&totals)
        return EvaluationResult(loss: totals[2] > 0 ? totals[0] / totals[2] : 0,
                                accuracy: totals[2] > 0 ? totals[1] / totals[2] : 0, samples: Int(totals[3]))
    }
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
