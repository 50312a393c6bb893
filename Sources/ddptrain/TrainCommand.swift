import ArgumentParser
import Kernels
import Training

/// `ddptrain [train] MODEL [options]`: flags override the config file, which overrides the
/// defaults. Every config key is a flag (`ConfigSetting`); `--help` lists them by group.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a model (the default command).")

    @Argument(help: "Model name (see `ddptrain models`).") var model: String
    @Option(help: "YAML config (default: configs/MODEL.yaml when it exists).") var config: String?
    @Argument(parsing: .allUnrecognized, help: .hidden) var settings: [String] = []

    func resolvedConfig(console: Console) throws -> TrainingConfig {
        var defaults = TrainingConfig()
        defaults.model = model
        var recipe = defaults
        if let file = config ?? Runtime.defaultConfig(for: model) {
            recipe = try defaults.merging(yamlFile: file)
            console.info("config: \(file)")
            if recipe.model != model {
                throw TrainingConfig.Invalid("\(file) is a config for \(recipe.model), not \(model)")
            }
        }
        let flags = try CommandLineSettings.parse(settings, for: .train, commandName: "train")
        var resolved = try recipe.merging(commandLine: flags)
        let dropped = resolved.leaveModelOptionsToData(recipe: recipe, commandLine: flags)
        if !dropped.isEmpty {
            console.info("--data \(resolved.data): the config's model options for \(recipe.data) (\(dropped.joined(separator: ", "))) "
                         + "are left to \(resolved.data)'s defaults; set them with flags to choose")
        }
        try resolved.validate()
        return resolved
    }

    func run() throws {
        Runtime.withCommunicator(threads: Runtime.threadsFlag(settings, for: .train, commandName: "train"), stopSignals: true) { communicator, console in
            let config = try agree(communicator, "configuration") { try resolvedConfig(console: console) }
            if let threads = config.threads { ThreadConfiguration.apply(threads: threads) }
            communicator.collectiveTimeout = config.collectiveTimeout
            let trainer = try Trainer(config: config, communicator: communicator, console: console)
            let summary = try trainer.run()
            let checkpoint = summary.lastCheckpoint.map { ", last checkpoint \($0)" } ?? ""
            console.info("\(summary.stoppedBySignal ? "stopped" : "done"): \(summary.closingLine); "
                         + "global step \(trainer.progress.globalStep)\(checkpoint)")
            return 0
        }
    }
}
