import ArgumentParser
import Foundation
import Training

/// `ddptrain eval MODEL (--checkpoint PATH | --weights FILE) ...`: loss and accuracy on a split
/// (`EvaluationRun`).
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Evaluate a checkpoint or weights file.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "A ddptrain checkpoint.") var checkpoint: String?
    @Option(help: "Weights with PyTorch names: a .pth file torch.save wrote (a state dict), or safetensors.") var weights: String?
    @Option(help: "test, or train (the training files through the evaluation transform).") var split = EvaluationRun.Split.test
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
        ProcessRuntime.withCommunicator(threads: ProcessRuntime.threadsFlag(settings, for: .eval, commandName: "eval")) { communicator, console in
            let source: EvaluationRun.Weights = checkpoint.map { .checkpoint($0) } ?? .file(weights ?? "")
            let evaluation = EvaluationRun(model: model, weights: source, split: split, limit: limit, arguments: settings)
            let outcome = try evaluation.run(communicator: communicator, confusionMatrix: perClass)
            let (result, classNames) = (outcome.result, outcome.classNames)
            if json {
                var object: [String: Any] = ["loss": result.loss, "accuracy": result.accuracy, "samples": result.samples]
                object["accuracy_top5"] = result.top5Accuracy
                object["mean_iou"] = result.meanIoU
                if perClass, let matrix = result.confusion {
                    object["per_class"] = matrix.perClassObjects(classNames: classNames)
                    if communicator.rank == 0 { _ = try matrix.write(into: outputDir, classNames: classNames) }
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                console.info(String(decoding: data, as: UTF8.self))
            } else {
                let top5 = result.top5Accuracy.map { String(format: ", acc@5 %.2f%%", 100 * $0) }
                    ?? result.meanIoU.map { String(format: ", mean IoU %.2f%%", 100 * $0) } ?? ""
                console.info(String(format: "%@ on %@ (%@): loss %.4f, accuracy %.2f%%%@, %d samples", model,
                                    outcome.samples == 0 ? "nothing" : split.rawValue, source.path, result.loss,
                                    100 * result.accuracy, top5, result.samples))
                if perClass, let matrix = result.confusion, communicator.rank == 0 {
                    matrix.perClassLines(classNames: classNames).forEach(console.info)
                    let files = try matrix.write(into: outputDir, classNames: classNames)
                    console.info("confusion matrix (rows: true class, columns: predicted): \(files.csv), \(files.svg)")
                }
            }
            return 0
        }
    }
}

extension EvaluationRun.Split: ExpressibleByArgument {}
