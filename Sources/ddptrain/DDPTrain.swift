import ArgumentParser

@main
struct DDPTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddptrain",
        abstract: "Distributed data-parallel training on CPUs, over MPI.",
        discussion: "Run `mpirun -n 4 ddptrain resnet50` to train on 4 ranks; without mpirun, ddptrain runs as one rank.",
        version: "0.1.0",
        subcommands: [TrainCommand.self, EvalCommand.self, ExportCommand.self, InspectCommand.self, ModelsCommand.self,
                      BenchCommand.self, InfoCommand.self],
        defaultSubcommand: TrainCommand.self)
}
