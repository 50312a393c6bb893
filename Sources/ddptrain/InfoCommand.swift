import ArgumentParser
import Training

/// `ddptrain info`: the world, BLAS core and threads a run would use here.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show the MPI world, BLAS core and threads.")

    @Option(help: "Threads per rank (default: the node's cores divided by the ranks on it).") var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        ProcessRuntime.withCommunicator(threads: threads) { communicator, console in
            console.info(ProcessRuntime.description(of: communicator, version: DDPTrain.configuration.version))
            return 0
        }
    }
}
