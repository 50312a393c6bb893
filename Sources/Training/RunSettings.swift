import Distributed
import Kernels

/// The process-wide part of a run's settings, applied the same way by training, benchmarks and
/// evaluation: threads per rank (when the config names them; otherwise the start-up default
/// stands) and the collective timeout. The compute precision is not process-wide: each run
/// scopes it with `ComputePrecision.with` around its own work.
enum RunSettings {
    static func apply(_ config: TrainingConfig, to communicator: Communicator) {
        if let threads = config.threads { ThreadConfiguration.apply(threads: threads) }
        communicator.collectiveTimeout = config.collectiveTimeout
    }
}

extension TrainingConfig {
    /// `DataParallel`'s options as the config states them.
    var dataParallelOptions: DataParallel.Options {
        .init(bucketCapMiB: bucketCapMB, syncBatchNorm: syncBN, compression: gradCompression,
              powerSGDRank: powersgdRank, powerSGDWarmupSteps: powersgdWarmupSteps)
    }
}
