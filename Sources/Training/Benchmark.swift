import Autograd
import Data
import Distributed
import Kernels
import Models
import NN
import Optim

/// Training throughput on synthetic data (`ddptrain bench`): the model, data-parallel wrapper and
/// optimizer a training run of `config` builds, timed for `steps` steps after 2 warm-up steps, with
/// the time split by phase. Under mpirun the figures are global (images/s of all ranks; the
/// slowest rank's phases).
public struct Benchmark {
    public var config: TrainingConfig
    public var steps: Int
    /// Also report the time of every operation (rank 0).
    public var profile: Bool

    /// ImageNet-sized inputs unless the flags say otherwise.
    public static var defaults: TrainingConfig {
        var config = TrainingConfig()
        config.batchSize = 16; config.imageSize = 224; config.inChannels = 3; config.numClasses = 1000; config.stem = .imagenet
        config.lr = 0.01
        return config
    }

    /// The settings of `bench MODEL` with these command-line flags, checked.
    public static func config(model: String, arguments: [String]) throws -> TrainingConfig {
        var config = try defaults.merging(arguments: arguments, for: .bench, commandName: "bench")
        config.model = model
        try config.validate()
        try EnvironmentSetting.validateAll()
        return config
    }

    public init(config: TrainingConfig, steps: Int, profile: Bool) {
        (self.config, self.steps, self.profile) = (config, steps, profile)
    }

    public func run(communicator: Communicator, console: Console) throws -> BenchmarkResult {
        RunSettings.apply(config, to: communicator)
        return try ComputePrecision.with(config.precision.compute) {
            let parts = try build(communicator)
            let records = try timeSteps(parts, communicator: communicator)
            if profile { reportProfile(steps: records.count, console: console) }
            return measure(parts, records: records, communicator: communicator)
        }
    }

    /// What a benchmark step runs on.
    struct Parts {
        let step: TrainingStep
        let ddp: DataParallel
        let stream: BatchStream
        let flopsPerImage: Double
        let trainableCount: Int
    }

    /// The model (seed 0, frozen as `freeze` says), its data-parallel wrapper, optimizer and synthetic data.
    func build(_ communicator: Communicator) throws -> Parts {
        let entry = try ModelRegistry.entry(config.model)
        let options = config.modelOptions
        Initializers.manualSeed(0)
        let network = entry.build(options)
        let flopsPerImage = 3 * entry.forwardFLOPs(options, model: network)
        if config.freeze != nil {
            try network.freeze(prefixes: config.freezePrefixes(headPrefix: entry.headPrefix, topLevelNames: network.children.map(\.name)))
        }
        let trainable = network.trainableParameters()
        var parallel = config.dataParallelOptions
        parallel.powerSGDWarmupSteps = 0  // bench measures the compressed steady state from its first step
        let ddp = try DataParallel(model: network, communicator: communicator, settings: ["bench"], options: parallel)
        let optimizer = config.makeOptimizer(trainable, headPrefix: entry.headPrefix)
        let (imageSize, inChannels) = (config.imageSize ?? 224, config.inChannels ?? 3)
        let data: Dataset = entry.isSegmentation
            ? Shapes(count: 1_000_000, channels: inChannels, size: imageSize, seed: 1)
            : SyntheticImages(count: 1_000_000, classes: config.numClasses ?? 1000, shape: [inChannels, imageSize, imageSize], seed: 1)
        let plan = DistributedSampler(datasetSize: data.count, worldSize: communicator.size, rank: communicator.rank,
                                      batchSize: config.batchSize, seed: 1).batches(epoch: 0).prefix(steps + 2)
        let stream = DataLoader(dataset: data, workers: config.workers).stream(Array(plan), epoch: 0)
        network.train()
        let step = TrainingStep(model: network, ddp: ddp, optimizer: optimizer)
        step.timeline = config.timeline.map { Timeline(path: $0, communicator: communicator) }
        return Parts(step: step, ddp: ddp, stream: stream, flopsPerImage: flopsPerImage,
                     trainableCount: trainable.reduce(0) { $0 + $1.tensor.count })
    }

    /// Runs 2 warm-up and `steps` timed steps; each timed step's phases, the slowest rank's.
    func timeSteps(_ parts: Parts, communicator: Communicator) throws -> [BenchPhases] {
        let world = communicator.size
        var records: [BenchPhases] = []
        defer { OpProfiler.isEnabled = false }
        for step in 0..<(steps + 2) {
            let t0 = System.now(), wait0 = parts.stream.waitSeconds
            guard let batch = try parts.stream.next() else { break }
            if step == 2 { OpProfiler.isEnabled = profile; OneDNNStatistics.reset() }
            OpProfiler.mark()
            _ = parts.step.run([batch])
            let times = parts.step.times
            let t3 = times.backwardEnded, t4 = t3 + times.allReduceWait, total = System.now() - t0
            // The rank that ended backward last waits for communication alone; the others also
            // wait for it. Its wait is the communication backward did not hide.
            var ends = [Double](repeating: 0, count: 2 * world)
            ends[2 * communicator.rank] = t3
            ends[2 * communicator.rank + 1] = t4 - t3
            communicator.allReduceSum(&ends)
            let last = (0..<world).max { ends[2 * $0] < ends[2 * $1] } ?? 0
            let phases = BenchPhases(total: total, forward: times.forward, backward: times.backward,
                                     allReduceWait: times.allReduceWait, optimizer: times.optimizer,
                                     dataWait: parts.stream.waitSeconds - wait0, exposedCommunication: ends[2 * last + 1])
            if step >= 2 { records.append(phases.slowestRank(communicator)) }
        }
        try parts.step.timeline?.write(communicator: communicator)
        return records
    }

    /// `--profile`: each operation's time per step, and oneDNN's reorders among them.
    func reportProfile(steps: Int, console: Console) {
        let timed = Double(max(steps, 1))
        console.info("per step, rank 0 (forward: since the previous op ended):")
        for (name, seconds, calls) in OpProfiler.report().prefix(24) {
            console.info(String(format: "  %-28@ %9.1f ms  %5d calls", name, 1000 * seconds / timed, calls / max(steps, 1)))
        }
        let reorders = OneDNNStatistics.reorders
        if reorders.count > 0 {
            console.info(String(format: "  oneDNN reorders (inside the ops above): %.1f ms, %d calls, %.1f MiB written",
                                1000 * reorders.seconds / timed, reorders.count / max(steps, 1),
                                Double(reorders.bytes) / timed / 1_048_576))
        }
    }

    /// The figures of the timed steps, with the matrix-product peak and the all-reduce measured alone.
    func measure(_ parts: Parts, records: [BenchPhases], communicator: Communicator) -> BenchmarkResult {
        let world = communicator.size
        func median(_ phase: KeyPath<BenchPhases, Double>) -> Double { BenchPhases.median(records, phase) }
        var peak = [Self.matrixProductPeak()]
        communicator.allReduceSum(&peak)
        let communication = world > 1 ? Self.allReduceAlone(floats: parts.trainableCount, communicator: communicator) : 0
        var rss = [Double(System.peakResidentBytes()) / 1_048_576]
        communicator.allReduceMax(&rss)
        let gradientBytes = Double(parts.trainableCount * 4)
        return BenchmarkResult(
            config: config, worldSize: world, threads: BLAS.threads, blasCore: BLAS.coreName, steps: records.count,
            stepSeconds: median(\.total), forward: median(\.forward), backward: median(\.backward),
            allReduceWait: median(\.allReduceWait), optimizer: median(\.optimizer), dataWait: median(\.dataWait),
            exposedCommunication: median(\.exposedCommunication), flopsPerImage: parts.flopsPerImage, peakGFLOPs: peak[0],
            peakRSSMiB: rss[0], communication: communication, gradientBytes: gradientBytes,
            wireMiB: (config.gradCompression == .bf16 ? gradientBytes / 2 : Double(parts.ddp.bucketWireFloats.reduce(0, +) * 4)) / 1_048_576,
            bucketBytes: parts.ddp.bucketSizesInBytes, bucketsStartedDuringBackward: parts.ddp.lastBucketsStartedDuringBackward,
            allReduceRoute: communicator.allReduceRoute)
    }

    /// The gradients' all-reduce outside backward (the buckets' path, the ring for large buffers):
    /// how much communication there was to hide. The middle of 3 timed runs after one warm-up.
    static func allReduceAlone(floats: Int, communicator: Communicator) -> Double {
        let gradients = Tensor(zeros: [floats])
        var times: [Double] = []
        for _ in 0..<4 {
            communicator.barrier()
            let start = System.now()
            communicator.startAllReduceSum(UnsafeMutableBufferPointer(start: gradients.pointer, count: gradients.count)).wait()
            var elapsed = [System.now() - start]
            communicator.allReduceMax(&elapsed)
            times.append(elapsed[0])
        }
        return times.dropFirst().sorted()[1]
    }

    /// This rank's matrix-product GFLOP/s with its BLAS threads, in the precision in force (median of 3, n = 1536).
    static func matrixProductPeak() -> Double {
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
