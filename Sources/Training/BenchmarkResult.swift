import Foundation
import Kernels

/// What `Benchmark` measured, as `bench` prints it (text, or one JSON object).
public struct BenchmarkResult {
    public var config: TrainingConfig
    public var worldSize: Int, threads: Int, blasCore: String, steps: Int
    /// Medians over the timed steps, seconds (each step's phases the slowest rank's).
    public var stepSeconds: Double, forward: Double, backward: Double, allReduceWait: Double, optimizer: Double, dataWait: Double
    /// The wait after backward of the rank that ended backward last.
    public var exposedCommunication: Double
    public var flopsPerImage: Double
    /// The ranks' summed matrix-product GFLOP/s in the run's precision.
    public var peakGFLOPs: Double
    /// The largest rank's peak resident memory.
    public var peakRSSMiB: Double
    /// All gradients all-reduced outside backward, seconds (0 on one rank).
    public var communication: Double
    public var gradientBytes: Double
    /// What one step's gradient exchange puts on the wire per rank (before the ring's 2(P−1)/P).
    public var wireMiB: Double
    public var bucketBytes: [Int]
    public var bucketsStartedDuringBackward: Int
    public var allReduceRoute: String

    public var imagesPerSecond: Double { Double(config.batchSize * worldSize) / stepSeconds }
    /// Model FLOP utilisation against the matrix-product peak.
    public var mfu: Double { flopsPerImage * imagesPerSecond / (peakGFLOPs * 1e9) }
    /// The share of the all-reduce that backward hid.
    public var hiddenShare: Double { communication > 0 ? min(1, max(0, 1 - exposedCommunication / communication)) : 0 }
    /// Bus bandwidth as NCCL's tests define it: a ring all-reduce moves 2(P−1)/P of the bytes per rank.
    public var busGbps: Double {
        communication > 0 ? 2 * Double(worldSize - 1) / Double(worldSize) * gradientBytes * 8 / communication / 1e9 : 0
    }

    public func json() throws -> String {
        let object: [String: Any] = [
            "model": config.model, "world_size": worldSize, "precision": config.precision.rawValue,
            "bf16_backend": BF16GEMM.backend.rawValue, "batch_per_rank": config.batchSize, "threads_per_rank": threads,
            "images_per_second": imagesPerSecond, "step_ms": 1000 * stepSeconds, "peak_rss_mib": peakRSSMiB, "mfu": mfu,
            "sgemm_peak_gflops": peakGFLOPs, "train_gflops_per_image": flopsPerImage / 1e9,
            "allreduce_ms": 1000 * communication, "allreduce_hidden_share": hiddenShare, "allreduce_bus_gbit_per_s": busGbps,
            "grad_compression": config.gradCompression.rawValue, "wire_mib_per_step": wireMiB,
            "allreduce_exposed_ms": 1000 * exposedCommunication,
            "bucket_mib": bucketBytes.map { Double($0) / 1_048_576 },
            "buckets_started_during_backward": bucketsStartedDuringBackward,
            "phases_ms": ["forward": 1000 * forward, "backward": 1000 * backward, "allreduce_wait": 1000 * allReduceWait,
                          "optimizer": 1000 * optimizer, "data_wait": 1000 * dataWait],
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    public var text: String {
        let (size, channels) = (config.imageSize ?? 224, config.inChannels ?? 3)
        let lines = String(format: """
            %@ %dx%dx%d, batch %d per rank, %d rank%@ x %d thread%@ (OpenBLAS %@), precision %@
              %.2f images/s  (median step %.1f ms over %d steps)
              forward %.1f ms, backward %.1f ms, all-reduce wait %.1f ms, optimizer %.1f ms, data wait %.1f ms
              %.2f GFLOP per image trained; MFU %.1f%% of the %.0f GFLOP/s %@ matrix-product peak measured here; peak RSS %.0f MiB per rank
            """, config.model, channels, size, size, config.batchSize, worldSize, worldSize == 1 ? "" : "s", threads,
            threads == 1 ? "" : "s", blasCore, config.precision.summary, imagesPerSecond, 1000 * stepSeconds, steps,
            1000 * forward, 1000 * backward, 1000 * allReduceWait, 1000 * optimizer, 1000 * dataWait,
            flopsPerImage / 1e9, 100 * mfu, peakGFLOPs, config.precision.compute.rawValue, peakRSSMiB)
        return worldSize > 1 ? lines + "\n" + communicationLines : lines
    }

    var communicationLines: String {
        String(format: "  all-reduce of all gradients alone (float32): %.1f ms, a bus bandwidth of %.2f Gbit/s; "
               + "after backward the last rank waits %.1f ms: %.0f%% hidden (gradients on the wire: %@, %.2f MiB a step)"
               + "\n  buckets (MiB): %@; %d of them started during backward; all-reduce: %@",
               1000 * communication, busGbps, 1000 * exposedCommunication, 100 * hiddenShare, config.gradCompression.rawValue, wireMiB,
               bucketBytes.map { String(format: "%.2f", Double($0) / 1_048_576) }.joined(separator: ", "),
               bucketsStartedDuringBackward, allReduceRoute)
    }
}
