#if canImport(Glibc)
import Glibc
#endif

/// Signals that end a run cleanly: every rank finishes its step, rank 0 saves a checkpoint,
/// and the job exits 0. SIGTERM and SIGINT stop (what a preempted job or Ctrl-C needs);
/// SIGUSR1 stops and asks Slurm to requeue the job (Lightning's convention: `#SBATCH
/// --signal=USR1@120` sends it before the time limit), which resumes with `--resume auto`.
/// The handlers only set flags; the trainer reads them once per step and all ranks agree on
/// them through the step's all-reduce.
public enum StopSignal {
    nonisolated(unsafe) private static var stop: sig_atomic_t = 0
    nonisolated(unsafe) private static var requeue: sig_atomic_t = 0

    public static func install() {
        signal(SIGTERM) { _ in StopSignal.stop = 1 }
        signal(SIGINT) { _ in StopSignal.stop = 1 }
        signal(SIGUSR1) { _ in StopSignal.requeue = 1 }
    }

    /// Any signal asked this rank to stop.
    public static var isRequested: Bool { stop != 0 || requeue != 0 }
    /// SIGUSR1 asked for a requeue.
    public static var isRequeueRequested: Bool { requeue != 0 }

    /// For tests.
    public static func request(requeue: Bool = false) {
        if requeue { Self.requeue = 1 } else { stop = 1 }
    }
    public static func reset() { stop = 0; requeue = 0 }
}
