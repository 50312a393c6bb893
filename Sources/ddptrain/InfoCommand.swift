import ArgumentParser
import Kernels

/// `ddptrain info`: the world, BLAS core and threads a run would use here.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show the MPI world, BLAS core and threads.")

    @Option(help: "Threads per rank (default: the node's cores divided by the ranks on it).") var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        Runtime.withCommunicator(threads: threads) { communicator, console in
            console.info("ddptrain \(DDPTrain.configuration.version): world size \(communicator.size), OpenBLAS core \(BLAS.coreName), "
                         + "\(BLAS.threads) BLAS thread\(BLAS.threads == 1 ? "" : "s") per rank, "
                         + "OPENBLAS_THREAD_TIMEOUT=\(System.environment("OPENBLAS_THREAD_TIMEOUT") ?? "unset"), "
                         + "OMP_WAIT_POLICY=\(System.environment("OMP_WAIT_POLICY") ?? "unset")")
            return 0
        }
    }
}
