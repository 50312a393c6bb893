import ArgumentParser
import Distributed
import Kernels

/// The command line. For now it reports the runtime it would train with; training,
/// evaluation and checkpoints arrive with the coordinator.
@main
struct DDPTrain: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "ddptrain",
        abstract: "Distributed data-parallel training on CPUs, over MPI.",
        version: version)

    @Option(help: "BLAS and kernel threads per rank (default: the node's cores divided by the ranks on it).")
    var threads: Int?

    func run() throws {
        BLAS.reexecIfCoreDegraded()
        let communicator: Communicator = MPICommunicator.isLaunchedByMPI ? try MPICommunicator() : SingleProcessCommunicator()
        defer { (communicator as? MPICommunicator)?.finalize() }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        let perRank = threads ?? ThreadConfiguration.defaultThreads(localRanks: communicator.localSize)
        ThreadConfiguration.apply(threads: perRank)
        if communicator.isRoot {
            print("ddptrain \(Self.version): world size \(communicator.size), OpenBLAS core \(BLAS.coreName), "
                  + "\(BLAS.threads) BLAS thread\(BLAS.threads == 1 ? "" : "s") per rank")
        }
    }
}
