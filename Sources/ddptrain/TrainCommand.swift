import ArgumentParser
import Training

/// `ddptrain [train] MODEL [options]`: flags override the config file, which overrides the
/// defaults. Every config key is a flag (`ConfigSetting`); `--help` lists them by group.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a model (the default command).")

    @Argument(help: "Model name (see `ddptrain models`).") var model: String
    @Option(help: "YAML config (default: configs/MODEL.yaml when it exists).") var config: String?
    @Argument(parsing: .allUnrecognized, help: .hidden) var settings: [String] = []

    func run() throws {
        ProcessRuntime.withCommunicator(threads: ProcessRuntime.threadsFlag(settings, for: .train, commandName: "train"),
                                        stopSignals: true) { communicator, console in
            let config = try agree(communicator, "configuration") {
                try TrainingConfig.resolved(model: model, configFile: self.config, arguments: settings, console: console)
            }
            let trainer = try Trainer(config: config, communicator: communicator, console: console)
            let summary = try trainer.run()
            let checkpoint = summary.lastCheckpoint.map { ", last checkpoint \($0)" } ?? ""
            console.info("\(summary.stoppedBySignal ? "stopped" : "done"): \(summary.closingLine); "
                         + "global step \(trainer.progress.globalStep)\(checkpoint)")
            return 0
        }
    }
}
