#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT ask the run to finish its step, save a checkpoint and exit 0 (what a
/// preempted Slurm job needs). The handler only sets a flag; the trainer reads it once per
/// step and all ranks agree on it through the step's metrics all-reduce.
public enum StopSignal {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    public static func install() {
        signal(SIGTERM) { _ in StopSignal.received = 1 }
        signal(SIGINT) { _ in StopSignal.received = 1 }
    }

    public static var isRequested: Bool { received != 0 }

    /// For tests.
    public static func request() { received = 1 }
    public static func reset() { received = 0 }
}
