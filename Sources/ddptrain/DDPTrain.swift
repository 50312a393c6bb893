import ArgumentParser

@main
struct DDPTrain: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "ddptrain",
        abstract: "Distributed data-parallel training on CPUs, over MPI.",
        version: version,
        subcommands: [InfoCommand.self, ModelsCommand.self],
        defaultSubcommand: InfoCommand.self)
}
