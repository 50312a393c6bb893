import Distributed
import Foundation
import Kernels

/// Process start-up and shutdown shared by every command: the OpenBLAS core, MPI when
/// launched by `mpirun`, threads per rank, and the error policy (an error all ranks share exits
/// cleanly with status 1; an error one rank meets alone aborts every rank, so none hangs).
public enum ProcessRuntime {
    /// `stopSignals`: SIGTERM, SIGINT and SIGUSR1 end the run cleanly (`StopSignal`); installed
    /// before MPI starts, since Slurm's warning signal may come at any moment and SIGUSR1's default
    /// action would kill the rank.
    public static func withCommunicator(threads: Int?, stopSignals: Bool = false,
                                        _ body: (Communicator, Console) throws -> Int32) -> Never {
        prepareCompute()
        if stopSignals { StopSignal.install() }
        let communicator: Communicator
        if MPICommunicator.isLaunchedByMPI {
            do { communicator = try MPICommunicator() } catch {
                System.printError("ddptrain: error: \(error)")
                exit(1)
            }
        } else {
            communicator = SingleProcessCommunicator()
        }
        let console = Console(rank: communicator.rank)
        applyThreads(threads, localRanks: communicator.localSize)
        let code: Int32
        do {
            code = try body(communicator, console)
        } catch {
            if (error as? AgreedFailure)?.reportedElsewhere != true { console.error("\(error)") }
            if communicator.size > 1 && !(error is RankSymmetricError) {
                // Only this rank knows: take every rank down rather than leave them waiting.
                communicator.abort(code: 1)
            }
            finish(communicator)
            exit(1)
        }
        finish(communicator)
        exit(code)
    }

    /// The OpenBLAS core (re-executing with a tuned environment if needed), before any thread starts.
    public static func prepareCompute() { BLAS.reexecWithTunedEnvironment() }

    /// `threads`, or the cores shared among the node's ranks.
    public static func applyThreads(_ threads: Int?, localRanks: Int) {
        ThreadConfiguration.apply(threads: threads ?? ThreadConfiguration.defaultThreads(localRanks: localRanks))
    }

    static func finish(_ communicator: Communicator) {
        System.flushOutput()
        (communicator as? MPICommunicator)?.finalize()
    }

    /// What `ddptrain info` shows: the world, the BLAS core and threads, and the thread-waiting settings.
    public static func description(of communicator: Communicator, version: String) -> String {
        "ddptrain \(version): world size \(communicator.size), OpenBLAS core \(BLAS.coreName), "
            + "\(BLAS.threads) BLAS thread\(BLAS.threads == 1 ? "" : "s") per rank, "
            + "OPENBLAS_THREAD_TIMEOUT=\(System.environment("OPENBLAS_THREAD_TIMEOUT") ?? "unset"), "
            + "OMP_WAIT_POLICY=\(System.environment("OMP_WAIT_POLICY") ?? "unset")"
    }

    /// `--threads N` among a command's config flags, read before MPI starts (the full parse,
    /// with its error messages, comes after, on every rank).
    public static func threadsFlag(_ arguments: [String], for command: ConfigSetting.Commands, commandName: String) -> Int? {
        // The one flag parser; a command line it refuses is reported by the configuration step on every rank.
        (try? CommandLineSettings.parse(arguments, for: command, commandName: commandName))?["threads"] as? Int
    }
}
