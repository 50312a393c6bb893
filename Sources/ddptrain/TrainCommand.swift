import ArgumentParser
import Training

/// `ddptrain [train] MODEL [options]`: flags override the config file, which overrides the defaults.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a model (the default command).")

    @Argument(help: "Model name (see `ddptrain models`).") var model: String
    @Option(help: "YAML config (default: configs/MODEL.yaml when it exists).") var config: String?
    @Option(help: "Data set: fashion-mnist, mnist, cifar10, cifar100, imagefolder, synthetic, shapes.") var data: String?
    @Option(help: "Folder of the data set.") var dataDir: String?
    @Option(help: "Epochs.") var epochs: Int?
    @Option(help: "Stop after this many optimizer steps.") var maxSteps: Int?
    @Option(help: "Samples per rank per step.") var batchSize: Int?
    @Option(help: "Learning rate for a global batch of 256 (scaled linearly with the global batch).") var lr: Double?
    @Option(help: "Linear warmup epochs.") var warmupEpochs: Double?
    @Flag(help: "Synchronise BatchNorm statistics across ranks.") var syncBn = false
    @Option(help: "Micro-batches accumulated per optimizer step.") var accumulate: Int?
    @Option(help: "Seed of initialisation, data order and augmentation.") var seed: UInt64?
    @Option(help: "BLAS and kernel threads per rank (default: cores / ranks on the node).") var threads: Int?
    @Option(help: "Checkpoint folder (default: checkpoints/MODEL).") var checkpointDir: String?
    @Option(help: "Also checkpoint every N steps (0: only at epoch ends).") var checkpointEvery: Int?
    @Option(help: "Checkpoints to keep (plus the best).") var keep: Int?
    @Option(help: "auto (newest valid checkpoint) or a checkpoint path.") var resume: String?
    @Option(help: "Initial weights: a safetensors file with PyTorch names.") var weights: String?
    @Option(help: "Log folder (default: runs/MODEL).") var logDir: String?
    @Option(help: "Evaluate every N steps (0: each epoch).") var evalEvery: Int?
    @Option(help: "Print and log every N steps.") var logEvery: Int?
    @Option(help: "Data loader threads per rank.") var workers: Int?
    @OptionGroup var modelArguments: ModelArguments

    func resolvedConfig(console: Console) throws -> TrainingConfig {
        var resolved = TrainingConfig()
        resolved.model = model
        if let file = config ?? Runtime.defaultConfig(for: model) {
            resolved = try resolved.merging(yamlFile: file)
            console.info("config: \(file)")
            if resolved.model != model {
                throw TrainingConfig.Invalid("\(file) is a config for \(resolved.model), not \(model)")
            }
        }
        if let data { resolved.data = data }
        if let dataDir { resolved.dataDir = dataDir }
        if let epochs { resolved.epochs = epochs }
        if let maxSteps { resolved.maxSteps = maxSteps }
        if let batchSize { resolved.batchSize = batchSize }
        if let lr { resolved.lr = lr }
        if let warmupEpochs { resolved.warmupEpochs = warmupEpochs }
        if syncBn { resolved.syncBN = true }
        if let accumulate { resolved.accumulate = accumulate }
        if let seed { resolved.seed = seed }
        if let threads { resolved.threads = threads }
        if let checkpointDir { resolved.checkpointDir = checkpointDir }
        if let checkpointEvery { resolved.checkpointEvery = checkpointEvery }
        if let keep { resolved.keep = keep }
        if let resume { resolved.resume = resume }
        if let weights { resolved.weights = weights }
        if let logDir { resolved.logDir = logDir }
        if let evalEvery { resolved.evalEvery = evalEvery }
        if let logEvery { resolved.logEvery = logEvery }
        if let workers { resolved.workers = workers }
        modelArguments.apply(to: &resolved)
        try resolved.validate()
        return resolved
    }

    func run() throws {
        Runtime.withCommunicator(threads: threads) { communicator, console in
            let config = try agree(communicator, "configuration") { try resolvedConfig(console: console) }
            StopSignal.install()
            let trainer = try Trainer(config: config, communicator: communicator, console: console)
            let summary = try trainer.run()
            let checkpoint = summary.lastCheckpoint.map { ", last checkpoint \($0)" } ?? ""
            console.info("\(summary.stoppedBySignal ? "stopped" : "done"): \(summary.closingLine); "
                         + "global step \(trainer.progress.globalStep)\(checkpoint)")
            return 0
        }
    }
}
