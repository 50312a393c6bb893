import ArgumentParser
import Autograd
import Data
import Distributed
import Foundation
import Kernels
import Models
import NN
import Optim
import Training

/// `ddptrain bench MODEL`: training throughput on synthetic data, with the time split by phase,
/// model FLOP utilisation against the sgemm peak measured here, and peak memory. Under mpirun
/// the figures are global (images/s of all ranks; the slowest rank's phases).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure training speed on synthetic data.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "Timed steps (after 2 warm-up steps).") var steps = 10
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Also print the time of every operation, forward and backward (rank 0).") var profile = false
    @Argument(parsing: .allUnrecognized, help: .hidden) var settings: [String] = []

    /// ImageNet-sized inputs unless the flags say otherwise.
    static var defaults: TrainingConfig {
        var config = TrainingConfig()
        config.batchSize = 16; config.imageSize = 224; config.inChannels = 3; config.numClasses = 1000; config.stem = .imagenet
        config.lr = 0.01
        return config
    }

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
    }

    func run() throws {
        Runtime.withCommunicator(threads: Runtime.threadsFlag(settings, for: .bench, commandName: "bench")) { communicator, console in
            let world = communicator.size
            let config = try agree(communicator, "settings") { () throws -> TrainingConfig in
                var config = try Self.defaults.merging(arguments: settings, for: .bench, commandName: "bench")
                config.model = model
                try config.validate()
                try EnvironmentSetting.validateAll()
                return config
            }
            let entry = try ModelRegistry.entry(model)
            communicator.collectiveTimeout = config.collectiveTimeout
            ComputePrecision.current = config.precision.compute
            let (batchSize, imageSize, inChannels) = (config.batchSize, config.imageSize ?? 224, config.inChannels ?? 3)
            let options = config.modelOptions
            Initializers.manualSeed(0)
            let network = entry.build(options)
            let flopsPerImage = 3 * entry.forwardFLOPs(options, model: network)
            if config.freeze != nil {
                try network.freeze(prefixes: config.freezePrefixes(headPrefix: entry.headPrefix, topLevelNames: network.children.map(\.name)))
            }
            let trainable = network.trainableParameters()
            let trainableCount = trainable.reduce(0) { $0 + $1.tensor.count }
            let ddp = try DataParallel(model: network, communicator: communicator, settings: ["bench"],
                                       options: .init(bucketCapMiB: config.bucketCapMB, syncBatchNorm: config.syncBN,
                                                      compression: config.gradCompression, powerSGDRank: config.powersgdRank,
                                                      // bench measures the compressed steady state from its first step.
                                                      powerSGDWarmupSteps: 0))
            let optimizer = config.makeOptimizer(trainable, headPrefix: entry.headPrefix)
            let data: Dataset = entry.isSegmentation
                ? Shapes(count: 1_000_000, channels: inChannels, size: imageSize, seed: 1)
                : SyntheticImages(count: 1_000_000, classes: config.numClasses ?? 1000, shape: [inChannels, imageSize, imageSize], seed: 1)
            let plan = DistributedSampler(datasetSize: data.count, worldSize: world, rank: communicator.rank, batchSize: batchSize,
                                          seed: 1).batches(epoch: 0).prefix(steps + 2)
            let stream = DataLoader(dataset: data, workers: config.workers).stream(Array(plan), epoch: 0)
            network.train()
            var records: [BenchPhases] = []
            let trainingStep = TrainingStep(model: network, ddp: ddp, optimizer: optimizer)
            trainingStep.timeline = config.timeline.map { Timeline(path: $0, communicator: communicator) }
            for step in 0..<(steps + 2) {
                let t0 = System.now(), wait0 = stream.waitSeconds
                guard let batch = try stream.next() else { break }
                if step == 2 { OpProfiler.isEnabled = profile; OneDNNStatistics.reset() }
                OpProfiler.mark()
                _ = trainingStep.run([batch])
                let times = trainingStep.times
                let t3 = times.backwardEnded, t4 = t3 + times.allReduceWait, total = System.now() - t0
                // The rank that ended backward last waits for communication alone; the others also
                // wait for it. Its wait is the communication backward did not hide.
                var ends = [Double](repeating: 0, count: 2 * world)
                ends[2 * communicator.rank] = t3
                ends[2 * communicator.rank + 1] = t4 - t3
                communicator.allReduceSum(&ends)
                let last = (0..<world).max { ends[2 * $0] < ends[2 * $1] }!
                let phases = BenchPhases(total: total, forward: times.forward, backward: times.backward,
                                         allReduceWait: times.allReduceWait, optimizer: times.optimizer,
                                         dataWait: stream.waitSeconds - wait0, exposedCommunication: ends[2 * last + 1])
                if step >= 2 { records.append(phases.slowestRank(communicator)) }
            }
            OpProfiler.isEnabled = false
            try trainingStep.timeline?.write(communicator: communicator)
            if profile {
                let timed = Double(records.count)
                console.info("per step, rank 0 (forward: since the previous op ended):")
                for (name, seconds, calls) in OpProfiler.report().prefix(24) {
                    console.info(String(format: "  %-28@ %9.1f ms  %5d calls", name, 1000 * seconds / timed, calls / max(records.count, 1)))
                }
                let reorders = OneDNNStatistics.reorders
                if reorders.count > 0 {
                    console.info(String(format: "  oneDNN reorders (inside the ops above): %.1f ms, %d calls, %.1f MiB written",
                                        1000 * reorders.seconds / timed, reorders.count / max(records.count, 1),
                                        Double(reorders.bytes) / timed / 1_048_576))
                }
            }
            func median(_ phase: KeyPath<BenchPhases, Double>) -> Double { BenchPhases.median(records, phase) }
            let stepSeconds = median(\.total)
            let imagesPerSecond = Double(batchSize * world) / stepSeconds
            var peak = [Self.sgemmPeak()]
            communicator.allReduceSum(&peak)
            // The same gradients all-reduced outside backward: how much communication there was to hide.
            var communication = 0.0
            if world > 1 {
                let gradients = Tensor(zeros: [trainableCount])
                var times: [Double] = []
                for _ in 0..<4 {
                    communicator.barrier()
                    let start = System.now()
                    // The gradient buckets' path (the ring for large buffers), not the blocking one.
                    communicator.startAllReduceSum(UnsafeMutableBufferPointer(start: gradients.pointer, count: gradients.count)).wait()
                    var elapsed = [System.now() - start]
                    communicator.allReduceMax(&elapsed)
                    times.append(elapsed[0])
                }
                communication = times.dropFirst().sorted()[1]
            }
            let hidden = communication > 0 ? min(1, max(0, 1 - median(\.exposedCommunication) / communication)) : 0
            // Bus bandwidth as NCCL's tests define it: a ring all-reduce moves 2(P−1)/P of the bytes per rank.
            let gradientBytes = Double(trainableCount * 4)
            let busGbps = communication > 0 ? 2 * Double(world - 1) / Double(world) * gradientBytes * 8 / communication / 1e9 : 0
            // What one step's gradient exchange puts on the wire per rank (before the ring's 2(P−1)/P).
            let wireMiB = (config.gradCompression == .bf16 ? gradientBytes / 2 : Double(ddp.bucketWireFloats.reduce(0, +) * 4)) / 1_048_576
            var rss = [Double(System.peakResidentBytes()) / 1_048_576]
            communicator.allReduceMax(&rss)
            let mfu = flopsPerImage * imagesPerSecond / (peak[0] * 1e9)
            if json {
                let object: [String: Any] = [
                    "model": model, "world_size": world, "precision": config.precision.rawValue, "bf16_backend": BF16GEMM.backend.rawValue, "batch_per_rank": batchSize, "threads_per_rank": BLAS.threads,
                    "images_per_second": imagesPerSecond, "step_ms": 1000 * stepSeconds, "peak_rss_mib": rss[0], "mfu": mfu,
                    "sgemm_peak_gflops": peak[0], "train_gflops_per_image": flopsPerImage / 1e9,
                    "allreduce_ms": 1000 * communication, "allreduce_hidden_share": hidden, "allreduce_bus_gbit_per_s": busGbps,
                    "grad_compression": config.gradCompression.rawValue, "wire_mib_per_step": wireMiB,
                    "allreduce_exposed_ms": 1000 * median(\.exposedCommunication),
                    "bucket_mib": ddp.bucketSizesInBytes.map { Double($0) / 1_048_576 },
                    "buckets_started_during_backward": ddp.lastBucketsStartedDuringBackward,
                    "phases_ms": ["forward": 1000 * median(\.forward), "backward": 1000 * median(\.backward), "allreduce_wait": 1000 * median(\.allReduceWait),
                                  "optimizer": 1000 * median(\.optimizer), "data_wait": 1000 * median(\.dataWait)],
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                console.info(String(decoding: data, as: UTF8.self))
            } else {
                console.info(String(format: """
                    %@ %dx%dx%d, batch %d per rank, %d rank%@ x %d thread%@ (OpenBLAS %@), precision %@
                      %.2f images/s  (median step %.1f ms over %d steps)
                      forward %.1f ms, backward %.1f ms, all-reduce wait %.1f ms, optimizer %.1f ms, data wait %.1f ms
                      %.2f GFLOP per image trained; MFU %.1f%% of the %.0f GFLOP/s %@ matrix-product peak measured here; peak RSS %.0f MiB per rank%@
                    """, model, inChannels, imageSize, imageSize, batchSize, world, world == 1 ? "" : "s", BLAS.threads,
                    BLAS.threads == 1 ? "" : "s", BLAS.coreName, config.precision.summary, imagesPerSecond, 1000 * stepSeconds, records.count,
                    1000 * median(\.forward), 1000 * median(\.backward), 1000 * median(\.allReduceWait), 1000 * median(\.optimizer), 1000 * median(\.dataWait),
                    flopsPerImage / 1e9, 100 * mfu, peak[0], ComputePrecision.current.rawValue, rss[0],
                    world > 1 ? String(format: "\n  all-reduce of all gradients alone (float32): %.1f ms, a bus bandwidth of %.2f Gbit/s; "
                                       + "after backward the last rank waits %.1f ms: %.0f%% hidden (gradients on the wire: %@, %.2f MiB a step)"
                                       + "\n  buckets (MiB): %@; %d of them started during backward; all-reduce: %@",
                                       1000 * communication, busGbps, 1000 * median(\.exposedCommunication), 100 * hidden, config.gradCompression.rawValue, wireMiB,
                                       ddp.bucketSizesInBytes.map { String(format: "%.2f", Double($0) / 1_048_576) }.joined(separator: ", "),
                                       ddp.lastBucketsStartedDuringBackward, communicator.allReduceRoute) : ""))
            }
            return 0
        }
    }

    /// This rank's matrix-product GFLOP/s with its BLAS threads, in the precision in force (median of 3, n = 1536).
    static func sgemmPeak() -> Double {
        let n = 1536
        let a = Tensor(filling: [n, n], with: 0.5), b = Tensor(filling: [n, n], with: 0.25), c = Tensor(zeros: [n, n])
        var times: [Double] = []
        for _ in 0..<4 {
            let start = System.now()
            BLAS.sgemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
            times.append(System.now() - start)
        }
        return 2 * Double(n * n * n) / times.dropFirst().sorted()[1] / 1e9
    }
}
