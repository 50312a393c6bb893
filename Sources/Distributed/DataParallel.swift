import Autograd
import Kernels
import NN

/// Data-parallel training over a communicator, as PyTorch's DDP does it: all ranks start from
/// rank 0's state, and gradients are averaged in buckets whose all-reduce starts the moment
/// their last gradient is produced, overlapping with the rest of backward.
///
/// Per step: forward, `backward()`, then `finishGradientSynchronization()` before the
/// optimizer step. For gradient accumulation set `synchronizesGradients = false` on all
/// micro-batches but the last.
public final class DataParallel {
    public let model: Module
    public let communicator: Communicator
    let buckets: [GradientBucket]
    let location: [ObjectIdentifier: (bucket: Int, index: Int)]
    var nextToLaunch = 0
    var locallyNonFinite = false
    /// False during the micro-batches of an accumulation that must not communicate.
    public var synchronizesGradients = true
    /// Buckets whose all-reduce had started during backward, at the last synchronisation.
    public private(set) var lastBucketsStartedDuringBackward = 0
    /// When each bucket's all-reduce started and was seen complete (`System.now()`), at the last
    /// synchronisation (the timeline draws them).
    public private(set) var lastBucketTimes: [(start: Double, end: Double)] = []
    private var launchTimes: [Double] = []
    let options: Options
    /// The L2 norm of the averaged gradient of every parameter at the last synchronisation (what
    /// the optimizer applies, after any compression), the same on every rank.
    public private(set) var lastGradientNorm = 0.0
    /// Gradient synchronisations so far (one per optimizer step); PowerSGD starts after its warm-up.
    public var synchronizedSteps = 0


    public struct Options: Sendable {
        /// The defaults, stated once (the config's defaults and help read them).
        /// Smaller than PyTorch's 25: the last bucket, complete only when backward ends, is all exposed on slow links.
        public static let defaultBucketCapMiB = 4.0
        public static let defaultPowerSGDRank = 4
        public static let defaultPowerSGDWarmupSteps = 100

        public var bucketCapMiB: Double
        /// PyTorch launches a small first bucket so communication starts early.
        public var firstBucketMiB: Double
        public var syncBatchNorm: Bool
        public var compression: GradientCompression
        /// PowerSGD's `matrix_approximation_rank`.
        public var powerSGDRank: Int
        /// Steps that all-reduce uncompressed before PowerSGD starts (PyTorch's `start_powerSGD_iter`).
        public var powerSGDWarmupSteps: Int
        public init(bucketCapMiB: Double = defaultBucketCapMiB, firstBucketMiB: Double = 1, syncBatchNorm: Bool = false,
                    compression: GradientCompression = .none, powerSGDRank: Int = defaultPowerSGDRank,
                    powerSGDWarmupSteps: Int = defaultPowerSGDWarmupSteps) {
            self.bucketCapMiB = bucketCapMiB; self.firstBucketMiB = firstBucketMiB; self.syncBatchNorm = syncBatchNorm
            self.compression = compression; self.powerSGDRank = powerSGDRank; self.powerSGDWarmupSteps = powerSGDWarmupSteps
        }
    }

    /// Checks that every rank built the same model with the same `settings` (one all-gather;
    /// on a mismatch every rank throws, naming the first difference), then copies rank 0's
    /// parameters and buffers to every rank.
    public init(model: Module, communicator: Communicator, settings: [String] = [], options: Options = Options()) throws {
        self.model = model
        self.communicator = communicator
        self.options = options
        try Self.verifyConsistency(model: model, communicator: communicator,
                                   settings: settings + ["sync_bn=\(options.syncBatchNorm)", "grad_compression=\(options.compression)",
                                                         "powersgd_rank=\(options.powerSGDRank)"])
        for (_, tensor) in model.stateDict() {
            communicator.broadcast(UnsafeMutableRawBufferPointer(start: tensor.pointer, count: tensor.count * 4), root: 0)
        }
        if options.syncBatchNorm {
            SyncBatchNorm.enable(in: model, communicator: communicator)
        }
        // Buckets in reverse registration order: backward produces the last layers' gradients first.
        // Frozen parameters have no gradient and are not all-reduced.
        var buckets: [[Tensor]] = [[]]
        var bytes = 0
        for p in model.parameters().reversed() where p.requiresGrad {
            let cap = (buckets.count == 1 ? options.firstBucketMiB : options.bucketCapMiB) * 1_048_576
            if !buckets[buckets.count - 1].isEmpty && Double(bytes + p.count * 4) > cap {
                buckets.append([])
                bytes = 0
            }
            buckets[buckets.count - 1].append(p)
            bytes += p.count * 4
        }
        self.buckets = buckets.filter { !$0.isEmpty }.enumerated().map { index, parameters in
            GradientBucket(parameters: parameters, compression: options.compression, powerSGDRank: options.powerSGDRank, index: index)
        }
        var location: [ObjectIdentifier: (Int, Int)] = [:]
        for (b, bucket) in self.buckets.enumerated() {
            for (i, p) in bucket.parameters.enumerated() { location[ObjectIdentifier(p)] = (b, i) }
        }
        self.location = location
        for bucket in self.buckets {
            for p in bucket.parameters { p.onGradReady = { [unowned self] p in self.gradientReady(p) } }
        }
    }

    deinit {
        for p in model.parameters() { p.onGradReady = nil }
        for bucket in buckets { bucket.release() }
    }

    public var bucketSizesInBytes: [Int] { buckets.map(\.byteCount) }
    /// Floats each bucket puts on the wire per step with PowerSGD on (its uncompressed count otherwise).
    public var bucketWireFloats: [Int] { buckets.map { $0.powerSGD?.wireCount ?? $0.buffer.count } }

    static func verifyConsistency(model: Module, communicator: Communicator, settings: [String]) throws {
        let signature = ModelSignature(model: model, settings: settings)
        var mine = signature.hash
        var all = [UInt64](repeating: 0, count: communicator.size)
        withUnsafeBytes(of: &mine) { send in
            all.withUnsafeMutableBytes { communicator.allGather(send, into: $0) }
        }
        let differing = all.indices.filter { all[$0] != all[0] }
        guard !differing.isEmpty else { return }
        // Every rank takes this branch: gather rank 0's entries to say what differs.
        let reference = communicator.allGather(Array(signature.lines.joined(separator: "\n").utf8))[0]
        let rankZero = ModelSignature(lines: String(decoding: reference, as: UTF8.self).split(separator: "\n").map(String.init))
        let detail = all[communicator.rank] == all[0]
            ? "this rank agrees with rank 0"
            : signature.firstDifference(from: rankZero)
        throw RankMismatch(description: "ranks \(differing.map(String.init).joined(separator: ", ")) built a different model or "
                                      + "settings than rank 0 (\(detail)); every rank must run the same model and configuration")
    }

    func gradientReady(_ p: Tensor) {
        guard synchronizesGradients, let (b, i) = location[ObjectIdentifier(p)] else { return }
        if !buckets[b].pack(i) { locallyNonFinite = true }
        launchReadyBuckets()
        // Non-blocking collectives progress inside MPI calls: give the earlier ones a nudge.
        for earlier in buckets[..<nextToLaunch] where earlier.request != nil { _ = earlier.request!.test() }
    }

    /// Starts every bucket that is complete, strictly in bucket order (the same order on every rank).
    func launchReadyBuckets() {
        while nextToLaunch < buckets.count && buckets[nextToLaunch].pending == 0 {
            let bucket = buckets[nextToLaunch]
            bucket.compressing = isCompressingThisStep
            bucket.request = communicator.during("gradient all-reduce (bucket \(nextToLaunch + 1) of \(buckets.count))") {
                bucket.startAllReduce(communicator)
            }
            bucket.launched = true
            launchTimes.append(System.now())
            nextToLaunch += 1
        }
    }

    /// PowerSGD is on and past its warm-up.
    public var isCompressingThisStep: Bool {
        options.compression == .powerSGD && synchronizedSteps >= options.powerSGDWarmupSteps
    }

    /// Waits for every bucket (starting those whose parameters got no gradient this step),
    /// writes the averaged gradients back, and tells which ranks saw a non-finite gradient
    /// (empty when all is well). Every rank gets the same answer.
    @discardableResult
    public func finishGradientSynchronization() -> [Int] {
        defer {
            for bucket in buckets { bucket.reset() }
            nextToLaunch = 0
            locallyNonFinite = false
            synchronizedSteps += 1
        }
        lastBucketsStartedDuringBackward = nextToLaunch
        // Parameters the graph did not reach this step still take part (as their gradient or zeros).
        for bucket in buckets where !bucket.launched {
            for i in bucket.parameters.indices where !bucket.packed[i] {
                if !bucket.pack(i) { locallyNonFinite = true }
            }
        }
        launchReadyBuckets()
        // PowerSGD's second exchanges start as the first ones arrive, all before any is awaited.
        for (index, bucket) in buckets.enumerated() {
            bucket.request?.wait()
            communicator.during("PowerSGD factor all-reduce (bucket \(index + 1) of \(buckets.count))") {
                bucket.startSecondExchange(communicator)
            }
        }
        var times: [(start: Double, end: Double)] = []
        for (index, bucket) in buckets.enumerated() {
            bucket.receive(worldSize: communicator.size)
            let start = index < launchTimes.count ? launchTimes[index] : System.now()
            times.append((start, (bucket.secondRequest ?? bucket.request)?.completedAt ?? System.now()))
        }
        lastBucketTimes = times
        launchTimes.removeAll(keepingCapacity: true)
        // NaN and ±Inf survive a sum, so any rank's bad gradient shows in every rank's result.
        var reducedFinite = true, sumOfSquares = 0.0
        for bucket in buckets {
            let (finite, squares) = bucket.unpack(scale: 1 / Float(communicator.size))
            if !finite { reducedFinite = false }
            sumOfSquares += squares
        }
        lastGradientNorm = sumOfSquares.squareRoot()
        // Decided on the reduced values, which every rank shares, so all ranks enter the collective below or none.
        guard !reducedFinite else { return [] }
        // Rare path: one more collective to name the ranks.
        var flags = [Double](repeating: 0, count: communicator.size)
        flags[communicator.rank] = locallyNonFinite ? 1 : 0
        communicator.during("naming the ranks with non-finite gradients") { communicator.allReduceSum(&flags) }
        return flags.indices.filter { flags[$0] > 0 }
    }

    /// Makes BatchNorm running statistics equal on every rank by averaging them (before
    /// evaluation and checkpoints when BN is not synchronised; with SyncBatchNorm they
    /// already agree). `num_batches_tracked` is the same everywhere and is left alone.
    /// All running statistics travel in one all-reduce.
    public func synchronizeBuffers() {
        guard communicator.size > 1 else { return }
        let buffers = model.namedBuffers().filter { !$0.name.hasSuffix("num_batches_tracked") }.map(\.tensor)
        var packed = [Float]()
        packed.reserveCapacity(buffers.reduce(0) { $0 + $1.count })
        for t in buffers { packed.append(contentsOf: UnsafeBufferPointer(start: t.pointer, count: t.count)) }
        communicator.during("averaging BatchNorm running statistics") {
            packed.withUnsafeMutableBufferPointer { communicator.allReduceAverage($0) }
        }
        var offset = 0
        for t in buffers {
            packed.withUnsafeBufferPointer { t.pointer.update(from: $0.baseAddress! + offset, count: t.count) }
            offset += t.count
        }
    }
}

extension ModelSignature {
    init(lines: [String]) { self.lines = lines }
}
