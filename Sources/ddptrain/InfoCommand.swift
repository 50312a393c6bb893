import ArgumentParser
import Distributed
import Kernels

/// Reports the runtime a training run would use: world size, BLAS core and threads.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show the MPI world, BLAS core and threads.")

    @Option(help: "BLAS and kernel threads per rank (default: the node's cores divided by the ranks on it).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        BLAS.reexecIfCoreDegraded()
        let communicator: Communicator = MPICommunicator.isLaunchedByMPI ? try MPICommunicator() : SingleProcessCommunicator()
        defer { (communicator as? MPICommunicator)?.finalize() }
        ThreadConfiguration.apply(threads: threads ?? ThreadConfiguration.defaultThreads(localRanks: communicator.localSize))
        if communicator.isRoot {
            print("ddptrain \(DDPTrain.version): world size \(communicator.size), OpenBLAS core \(BLAS.coreName), "
                  + "\(BLAS.threads) BLAS thread\(BLAS.threads == 1 ? "" : "s") per rank")
        }
    }
}
