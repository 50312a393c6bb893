import ArgumentParser
import Data
import Distributed
import Foundation
import Kernels
import Models
import NN
import Training

/// `ddptrain eval MODEL (--checkpoint PATH | --weights FILE) ...`: loss and accuracy on a split.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Evaluate a checkpoint or weights file.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "A ddptrain checkpoint.") var checkpoint: String?
    @Option(help: "Weights with PyTorch names: a .pth file torch.save wrote (a state dict), or safetensors.") var weights: String?
    /// The held-out split, or the training files through the evaluation transform.
    enum Split: String, ExpressibleByArgument, CaseIterable { case test, train }

    @Option(help: "test or train.") var split = Split.test
    @Option(help: "Evaluate the first N samples, in file order.") var limit: Int?
    @Flag(help: "Print {\"loss\":…, \"accuracy\":…, \"accuracy_top5\":… (5 classes or more), \"mean_iou\":… (segmentation), \"samples\":…}.")
    var json = false
    @Flag(help: "Also print each class's accuracy (and IoU) and write the confusion matrix as CSV and an SVG heat map.")
    var perClass = false
    @Option(help: "Folder for confusion-matrix.csv and confusion-matrix.svg (with --per-class).") var outputDir = "."
    /// Config flags: the data set (default: the checkpoint's), model options, batch size (default 256), threads.
    @Argument(parsing: .allUnrecognized, help: .hidden) var settings: [String] = []

    func validate() throws {
        guard (checkpoint == nil) != (weights == nil) else { throw ValidationError("give exactly one of --checkpoint and --weights") }
        if let limit, limit < 1 { throw ValidationError("--limit must be positive, got \(limit)") }
    }

    func run() throws {
        Runtime.withCommunicator(threads: Runtime.threadsFlag(settings, for: .eval, commandName: "eval")) { communicator, console in
            var collectiveTimeout = defaultCollectiveTimeout
            let (network, dataset, loading) = try agree(communicator, "loading") { () throws -> (LayerModule, Dataset, TrainingConfig) in
                try EnvironmentSetting.validateAll()
                var config = TrainingConfig()
                config.model = model
                var saved: Checkpoint? = nil
                if let checkpoint {
                    saved = try Checkpoint.load(checkpoint)
                    // The model options and data set the run was trained with.
                    config = try saved!.trainingConfig(source: checkpoint)
                    guard config.model == model else {
                        throw TrainingError("\(checkpoint): checkpoint of model '\(config.model)', not '\(model)'")
                    }
                }
                // Evaluation's own default batch, unless the flags say otherwise (not the checkpoint's training batch).
                config.batchSize = 256
                config = try config.merging(arguments: settings, for: .eval, commandName: "eval")
                try config.validate()
                let source = try DataSource.named(config.data)
                var dataset = try source.open(train: false, options: config.dataOptions)
                if split == .train {
                    // The training split without augmentation: the eval transform of the train files.
                    dataset = try Self.unaugmentedTrainSplit(source, config: config) ?? dataset
                }
                if let limit { dataset = Subset(dataset, first: limit) }
                let options = try config.modelOptions(fitting: dataset)
                let network = try ModelRegistry.entry(model).build(options)
                if let saved, let checkpoint { try saved.restore(into: network, optimizer: nil, modelName: model, source: checkpoint) }
                if let weights { try network.loadStateDict(try Trainer.readWeights(weights), source: weights) }
                collectiveTimeout = config.collectiveTimeout
                return (network, dataset, config)
            }
            communicator.collectiveTimeout = collectiveTimeout
            let result = try ComputePrecision.with(loading.precision.compute) {
                try Evaluation.run(model: network, dataset: dataset, communicator: communicator, batchSize: loading.batchSize,
                                   workers: loading.workers, confusionMatrix: perClass)
            }
            let classNames = (try? DataSource.named(loading.data)).flatMap { $0.classNames(of: dataset) }
            if json {
                var object: [String: Any] = ["loss": result.loss, "accuracy": result.accuracy, "samples": result.samples]
                object["accuracy_top5"] = result.top5Accuracy
                object["mean_iou"] = result.meanIoU
                if perClass, let matrix = result.confusion {
                    object["per_class"] = Self.perClassObjects(matrix, classNames: classNames)
                    if communicator.rank == 0 { try Self.writeMatrix(matrix, classNames: classNames, into: outputDir, console: nil) }
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                console.info(String(decoding: data, as: UTF8.self))
            } else {
                let top5 = result.top5Accuracy.map { String(format: ", acc@5 %.2f%%", 100 * $0) }
                    ?? result.meanIoU.map { String(format: ", mean IoU %.2f%%", 100 * $0) } ?? ""
                console.info(String(format: "%@ on %@ (%@): loss %.4f, accuracy %.2f%%%@, %d samples", model, dataset.count == 0 ? "nothing" : split.rawValue,
                                    checkpoint ?? weights ?? "", result.loss, 100 * result.accuracy, top5, result.samples))
                if perClass, let matrix = result.confusion, communicator.rank == 0 {
                    try Self.report(matrix, classNames: classNames, into: outputDir, console: console)
                }
            }
            return 0
        }
    }

    /// Each class's accuracy and IoU, and the matrix written as CSV and SVG.
    static func report(_ matrix: ConfusionMatrix, classNames: [String]?, into folder: String, console: Console) throws {
        let (accuracy, iou) = (matrix.perClassAccuracy, matrix.intersectionOverUnion)
        func percent(_ value: Double?) -> String { value.map { String(format: "%6.2f%%", 100 * $0) } ?? "     —" }
        console.info("class                  accuracy      IoU   labelled")
        for k in 0..<matrix.classes {
            let name = classNames.flatMap { $0.indices.contains(k) ? $0[k] : nil } ?? String(k)
            let labelled = matrix.labelled(k)
            console.info(String(format: "%-20@  %@  %@  %9d", name.padding(toLength: 20, withPad: " ", startingAt: 0),
                                percent(accuracy[k]), percent(iou[k]), labelled))
        }
        try writeMatrix(matrix, classNames: classNames, into: folder, console: console)
    }

    /// confusion-matrix.csv and .svg in `folder`.
    static func writeMatrix(_ matrix: ConfusionMatrix, classNames: [String]?, into folder: String, console: Console?) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let base = URL(fileURLWithPath: folder)
        let csv = base.appendingPathComponent("confusion-matrix.csv"), svg = base.appendingPathComponent("confusion-matrix.svg")
        try matrix.csv(classNames: classNames).write(to: csv, atomically: true, encoding: .utf8)
        try matrix.svg(classNames: classNames).write(to: svg, atomically: true, encoding: .utf8)
        console?.info("confusion matrix (rows: true class, columns: predicted): \(csv.path), \(svg.path)")
    }

    /// `--json --per-class`: each class's name, accuracy, IoU (null where undefined) and labelled count.
    static func perClassObjects(_ matrix: ConfusionMatrix, classNames: [String]?) -> [[String: Any]] {
        let (accuracy, iou) = (matrix.perClassAccuracy, matrix.intersectionOverUnion)
        return (0..<matrix.classes).map { k in
            let labelled = matrix.labelled(k)
            return ["class": k, "name": classNames.flatMap { $0.indices.contains(k) ? $0[k] : nil } ?? NSNull(),
                    "accuracy": accuracy[k] ?? NSNull(), "iou": iou[k] ?? NSNull(), "labelled": labelled]
        }
    }

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
