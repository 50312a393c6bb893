import ArgumentParser
import Training

@main
struct DDPTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddptrain",
        abstract: "Distributed data-parallel training on CPUs, over MPI.",
        discussion: "Run `mpirun -n 4 ddptrain resnet50` to train on 4 ranks; without mpirun, ddptrain runs as one rank.",
        version: Trainer.version,
        subcommands: [TrainCommand.self, EvalCommand.self, PredictCommand.self, ExportCommand.self, InspectCommand.self, ModelsCommand.self,
                      BenchCommand.self, InfoCommand.self],
        defaultSubcommand: TrainCommand.self)

    /// `--help` of the commands that take config flags: ArgumentParser's text for the options it
    /// parses itself, then every config flag of that command, by group.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let commands: [(ParsableCommand.Type, ConfigSetting.Commands)] = [
            (TrainCommand.self, .train), (BenchCommand.self, .bench), (EvalCommand.self, .eval),
        ]
        if arguments.contains(where: { $0 == "--help" || $0 == "-h" }) {
            let named = commands.first { arguments.first == $0.0.configuration.commandName }
            // `ddptrain resnet18 --help` is the default subcommand, train.
            let implicitTrain = arguments.first.map { !$0.hasPrefix("-") && !isSubcommand($0) } ?? false
            if let (command, kind) = named ?? (implicitTrain ? commands[0] : nil) {
                print(Self.helpMessage(for: command))
                print(CommandLineSettings.help(for: kind))
                return
            }
        }
        Self.main(nil)
    }

    static func isSubcommand(_ word: String) -> Bool {
        configuration.subcommands.contains { $0.configuration.commandName == word } || word == "help"
    }
}
