import Data
import Distributed
import Foundation
import Kernels
import Models
import NN

/// `ddptrain eval`: the model of a checkpoint (with the settings it was trained with) or of a
/// weights file, evaluated on a split of its data set by every rank.
public struct EvaluationRun {
    /// The held-out split, or the training files through the evaluation transform.
    public enum Split: String, CaseIterable, Sendable { case test, train }
    /// Where the weights come from.
    public enum Weights: Sendable {
        /// A ddptrain checkpoint, whose config supplies the model options and data set.
        case checkpoint(String)
        /// A state dict with PyTorch's names (safetensors, .pth, or a checkpoint's model entries).
        case file(String)

        public var path: String {
            switch self { case .checkpoint(let path), .file(let path): return path }
        }
    }

    public var model: String
    public var weights: Weights
    public var split: Split
    /// The first N samples, in file order.
    public var limit: Int?
    /// Config flags: the data set (default: the checkpoint's), model options, batch size (default 256), threads.
    public var arguments: [String]

    public init(model: String, weights: Weights, split: Split = .test, limit: Int? = nil, arguments: [String] = []) {
        (self.model, self.weights, self.split, self.limit, self.arguments) = (model, weights, split, limit, arguments)
    }

    /// What was evaluated and how it did.
    public struct Outcome {
        public var result: EvaluationResult
        public var config: TrainingConfig
        public var samples: Int
        /// The data set's class names, when it has them.
        public var classNames: [String]?
    }

    public func run(communicator: Communicator, confusionMatrix: Bool) throws -> Outcome {
        let (network, dataset, config) = try agree(communicator, "loading") { try load() }
        RunSettings.apply(config, to: communicator)
        let result = try ComputePrecision.with(config.precision.compute) {
            try Evaluation.run(model: network, dataset: dataset, communicator: communicator, batchSize: config.batchSize,
                               workers: config.workers, confusionMatrix: confusionMatrix)
        }
        let classNames = (try? DataSource.named(config.data)).flatMap { $0.classNames(of: dataset) }
        return Outcome(result: result, config: config, samples: dataset.count, classNames: classNames)
    }

    /// The settings (the checkpoint's, then evaluation's batch of 256, then the flags), the split
    /// and the model with its weights, on each rank alone.
    func load() throws -> (LayerModule, Dataset, TrainingConfig) {
        try EnvironmentSetting.validateAll()
        var config = TrainingConfig()
        config.model = model
        var saved: Checkpoint? = nil
        if case .checkpoint(let path) = weights {
            let checkpoint = try Checkpoint.load(path)
            // The model options and data set the run was trained with.
            config = try checkpoint.trainingConfig(source: path)
            guard config.model == model else { throw TrainingError("\(path): checkpoint of model '\(config.model)', not '\(model)'") }
            saved = checkpoint
        }
        // Evaluation's own default batch, unless the flags say otherwise (not the checkpoint's training batch).
        config.batchSize = 256
        config = try config.merging(arguments: arguments, for: .eval, commandName: "eval")
        try config.validate()
        let source = try DataSource.named(config.data)
        var dataset = try source.open(train: false, options: config.dataOptions)
        if split == .train {
            dataset = try Self.unaugmentedTrainSplit(source, config: config) ?? dataset
        }
        if let limit { dataset = Subset(dataset, first: limit) }
        let network = try ModelRegistry.entry(model).build(try config.modelOptions(fitting: dataset))
        switch weights {
        case .checkpoint(let path): try saved?.restore(into: network, optimizer: nil, modelName: model, source: path)
        case .file(let path): try network.loadStateDict(try Trainer.readWeights(path), source: path)
        }
        return (network, dataset, config)
    }

    /// The training files through the evaluation transform (no augmentation).
    static func unaugmentedTrainSplit(_ source: DataSource, config: TrainingConfig) throws -> Dataset? {
        let train = try source.open(train: true, options: config.dataOptions)
        if let images = train as? InMemoryImages { return images.with(cropPadding: nil, flip: false) }
        if let arrays = train as? NumPyImages { return arrays.unaugmented() }
        if let folder = train as? SegmentationFolder { return folder.unaugmented() }
        if let folder = train as? ImageFolder {
            return try ImageFolder(root: config.dataDir ?? "", split: "train", size: folder.size, train: false, seed: config.seed)
        }
        return train
    }
}
