import Autograd
import Data
import Distributed
import Kernels
import Models
import NN
import Optim

/// Data-parallel training checks that need real ranks.
func checkDataParallel(_ comm: MPICommunicator, _ check: (Bool, String) -> Void) throws {
    try checkSyncBatchNormEqualsGlobalBatch(comm, check)
    let small = try SmallRun(comm)
    try checkUnevenSplit(small, check)
    try checkNonFiniteIsSeenEverywhere(small, check)
    try checkBF16Buckets(small, check)
    checkModelMismatch(comm, check)
}

/// SyncBatchNorm: N ranks × batch B train as 1 rank × batch N·B on the same global sample order,
/// and parameters are bitwise identical on every rank after every step.
func checkSyncBatchNormEqualsGlobalBatch(_ comm: MPICommunicator, _ check: (Bool, String) -> Void) throws {
    let (rank, size) = (comm.rank, comm.size)
    let tag = "[\(size) ranks]"
    let data = try FashionMNIST.load(train: true, augment: false, seed: 0)
    let options = ModelOptions(numClasses: 10, inChannels: 1, stem: .cifar)
    Initializers.manualSeed(11)
    let model = try ModelRegistry.entry("resnet18").build(options)
    Initializers.manualSeed(11)
    let reference = try ModelRegistry.entry("resnet18").build(options)
    let ddp = try DataParallel(model: model, communicator: comm, settings: ["check=syncbn"], options: .init(syncBatchNorm: true))
    let sgd = SGD(ParamGroup.decayingWeightsOnly(model.namedParameters(), lr: 1e-4, weightDecay: 1e-4), momentum: 0.9)
    let referenceSGD = SGD(ParamGroup.decayingWeightsOnly(reference.namedParameters(), lr: 1e-4, weightDecay: 1e-4), momentum: 0.9)
    let plans = (0..<size).map {
        DistributedSampler(datasetSize: data.count, worldSize: size, rank: $0, batchSize: 4, seed: 3).batches(epoch: 0)
    }
    let loader = DataLoader(dataset: data, workers: 0)
    var identicalEverywhere = true
    var worstGradient = (0.0, "")
    var worstGlobalGradient = 0.0
    for step in 0..<7 {
        // Steps 5 and 6 start the reference from the DDP model's exact parameters, so that the
        // gradients compare the computation alone: ResNet-18 on batches of 8 amplifies any
        // rounding difference ~100x per step (seen in one process with a 3e-9 perturbation).
        if step >= 5 { for (a, b) in zip(model.parameters(), reference.parameters()) { b.copyValues(from: a) } }
        let mine = try loader.makeBatch(plans[rank][step], epoch: 0)
        crossEntropy(model(mine.images), labels: mine.labels).backward()
        check(ddp.finishGradientSynchronization().isEmpty, "\(tag) step \(step): gradients are finite")
        let global = try loader.makeBatch((0..<size).flatMap { plans[$0][step] }, epoch: 0)
        crossEntropy(reference(global.images), labels: global.labels).backward()
        if step >= 5 {
            for ((name, a), (_, b)) in zip(model.namedParameters(), reference.namedParameters()) {
                let r = relativeDifference(a.grad!, b.grad!)
                if r > worstGradient.0 { worstGradient = (r, name) }
            }
            let global = relativeDifference(flat(model.parameters().map { $0.grad! }), flat(reference.parameters().map { $0.grad! }))
            worstGlobalGradient = max(worstGlobalGradient, global)
        }
        sgd.step(); sgd.zeroGrad()
        referenceSGD.step(); referenceSGD.zeroGrad()
        let hashes = comm.allGather(withUnsafeBytes(of: parameterHash(model)) { Array($0) })
        if Set(hashes).count != 1 { identicalEverywhere = false }
        if step == 4 {
            let drift = relativeDifference(flat(model.parameters()), flat(reference.parameters()))
            check(drift <= 1e-4, "\(tag) sync-BN DDP equals one rank on the global batch after 5 SGD steps: ‖Δθ‖/‖θ‖ = \(drift)")
        }
    }
    check(identicalEverywhere, "\(tag) parameters are bitwise identical on every rank after every step")
    // From equal parameters the only difference is the order of float32 sums, but BatchNorm's
    // backward, dx = w/σ·(dy − mean(dy) − x̂·mean(dy·x̂)), cancels heavily on some batches and turns
    // 1e-7 rounding into ~1e-3 upstream (measured in one process: grouped against per-image convs
    // on the same batch), and a pre-activation within rounding of zero flips its ReLU: one flipped
    // element of ~1e5 moves the gradients below it by ~1e-3 (in one process, 1 against 2 threads
    // on the same batch: 2e-6 everywhere, or 1e-3 from one layer down, depending only on how the
    // convolutions round), and a small tensor such as a BN bias by up to ~1.3e-2. A wrong average
    // or local BN statistics would be off by 10–100%.
    check(worstGlobalGradient <= 1e-2, "\(tag) from equal parameters, the averaged gradient matches the global batch's: ‖Δg‖/‖g‖ = \(worstGlobalGradient)")
    check(worstGradient.0 <= 5e-2, "\(tag) and every tensor within 5e-2 (worst \(worstGradient.0) at \(worstGradient.1))")
}

/// A tiny model trained on 100 samples, a count no world size of 3 or more divides.
struct SmallRun {
    let comm: MPICommunicator
    let tag: String
    let small = SyntheticImages(count: 100, classes: 3, shape: [1, 8, 8], seed: 5)
    let tiny = SmallRun.makeModel()
    let tinyDDP: DataParallel
    let tinySGD: SGD
    let sampler: DistributedSampler
    let smallLoader: DataLoader

    init(_ comm: MPICommunicator) throws {
        self.comm = comm
        tag = "[\(comm.size) ranks]"
        tinyDDP = try DataParallel(model: tiny, communicator: comm, settings: ["check=uneven"])
        tinySGD = SGD([ParamGroup(parameters: tiny.namedParameters(), lr: 0.1)], momentum: 0.9)
        sampler = DistributedSampler(datasetSize: small.count, worldSize: comm.size, rank: comm.rank, batchSize: 8, seed: 1)
        smallLoader = DataLoader(dataset: small, workers: 1)
    }

    static func makeModel() -> Sequential {
        Sequential(Conv2d(1, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU(), GlobalAvgPool2d(), Flatten(), Linear(4, 3))
    }
}

/// A data set whose size the world size does not divide: equal step counts, no hang, BN running
/// statistics averaged, and evaluation counts every sample once.
func checkUnevenSplit(_ run: SmallRun, _ check: (Bool, String) -> Void) throws {
    let (comm, tag, small, tiny, tinyDDP, tinySGD, sampler, smallLoader) =
        (run.comm, run.tag, run.small, run.tiny, run.tinyDDP, run.tinySGD, run.sampler, run.smallLoader)
    let (rank, size) = (comm.rank, comm.size)
    var steps = 0
    for epoch in 0..<2 {
        let stream = smallLoader.stream(sampler.batches(epoch: epoch), epoch: epoch)
        while let b = try stream.next() {
            crossEntropy(tiny(b.images), labels: b.labels).backward()
            tinyDDP.finishGradientSynchronization()
            tinySGD.step(); tinySGD.zeroGrad()
            steps += 1
        }
    }
    var stepCounts = [Double](repeating: 0, count: size)
    stepCounts[rank] = Double(steps)
    comm.allReduceSum(&stepCounts)
    check(Set(stepCounts).count == 1, "\(tag) every rank took the same number of steps on 100 samples (\(stepCounts))")
    // BN without sync: running statistics become the average over ranks, the same bits everywhere.
    let runningMean = tiny.namedBuffers().first { $0.name.hasSuffix("running_mean") }!.tensor
    var expected = runningMean.toArray().map(Double.init)
    comm.allReduceSum(&expected)
    expected = expected.map { $0 / Double(size) }
    tinyDDP.synchronizeBuffers()
    let averaged = zip(runningMean.toArray(), expected).allSatisfy { abs(Double($0) - $1) <= 1e-6 * max(1, abs($1)) }
    let bits = comm.allGather(runningMean.toArray().flatMap { withUnsafeBytes(of: $0.bitPattern) { Array($0) } })
    check(averaged && Set(bits).count == 1, "\(tag) BN running statistics are averaged and identical on every rank")
    tiny.eval()
    var evaluated = [0.0, 0.0]
    for b in EvaluationSampler(datasetSize: small.count, worldSize: size, rank: rank, batchSize: 16).batches() {
        let batchData = try smallLoader.makeBatch(b, epoch: 0)
        _ = withNoGrad { tiny(batchData.images) }
        evaluated[0] += Double(b.count)
        evaluated[1] += Double(Set(b).count)
    }
    comm.allReduceSum(&evaluated)
    check(evaluated == [100, 100], "\(tag) evaluation counts each of the 100 samples once (\(evaluated))")
}

/// Non-finite gradients on one rank are seen, and attributed, by every rank in the same step.
func checkNonFiniteIsSeenEverywhere(_ run: SmallRun, _ check: (Bool, String) -> Void) throws {
    let (tag, tiny, tinyDDP, tinySGD, sampler, smallLoader) = (run.tag, run.tiny, run.tinyDDP, run.tinySGD, run.sampler, run.smallLoader)
    let (rank, size) = (run.comm.rank, run.comm.size)
    let bad = try smallLoader.makeBatch(sampler.batches(epoch: 0)[0], epoch: 0)
    if rank == size - 1 { bad.images.pointer[0] = .nan }
    tiny.train()
    crossEntropy(tiny(bad.images), labels: bad.labels).backward()
    let reported = tinyDDP.finishGradientSynchronization()
    check(reported == [size - 1], "\(tag) a NaN on rank \(size - 1) is reported by every rank (got \(reported))")
    tinySGD.zeroGrad()
}

/// Gradient compression: the same batch through bf16 buckets averages to the float32 result
/// within bf16's rounding.
func checkBF16Buckets(_ run: SmallRun, _ check: (Bool, String) -> Void) throws {
    let (comm, tag, tiny, tinyDDP, tinySGD, sampler, smallLoader) = (run.comm, run.tag, run.tiny, run.tinyDDP, run.tinySGD, run.sampler, run.smallLoader)
    let twin = SmallRun.makeModel()
    for (a, b) in zip(twin.parameters(), tiny.parameters()) { a.copyValues(from: b) }
    let compressed = try DataParallel(model: twin, communicator: comm, settings: ["check=bf16"], options: .init(compression: .bf16))
    let batch = try smallLoader.makeBatch(sampler.batches(epoch: 1)[0], epoch: 0)
    crossEntropy(tiny(batch.images), labels: batch.labels).backward()
    tinyDDP.finishGradientSynchronization()
    crossEntropy(twin(batch.images), labels: batch.labels).backward()
    check(compressed.finishGradientSynchronization().isEmpty, "\(tag) bf16 buckets: gradients are finite")
    let exactGrads = flat(tiny.parameters().map { $0.grad! }), bf16Grads = flat(twin.parameters().map { $0.grad! })
    let compressionError = relativeDifference(bf16Grads, exactGrads)
    check(compressionError > 0 && compressionError <= 1e-2,
          "\(tag) bf16 buckets average to the float32 gradient within bf16 rounding: ‖Δg‖/‖g‖ = \(compressionError)")
    tinySGD.zeroGrad()
    twin.zeroGrad()
}

/// Ranks that built different models fail clearly, on every rank, at once.
func checkModelMismatch(_ comm: MPICommunicator, _ check: (Bool, String) -> Void) {
    let (rank, size) = (comm.rank, comm.size)
    let tag = "[\(size) ranks]"
    let start = System.now()
    let odd = Linear(4, rank == size - 1 ? 3 : 2)
    do {
        _ = try DataParallel(model: odd, communicator: comm, settings: [])
        check(false, "\(tag) different models were not detected")
    } catch {
        let message = "\(error)"
        check(message.contains("ranks \(size - 1)") && message.contains("different model"),
              "\(tag) the mismatch names the rank: \(message)")
        if rank == size - 1 { check(message.contains("weight [3, 4]"), "\(tag) and what differs: \(message)") }
    }
    check(System.now() - start < 10, "\(tag) the mismatch is found in seconds")
}

/// FNV-1a over every parameter's bytes.
func parameterHash(_ model: Module) -> UInt64 {
    var h = FNV1a()
    for p in model.parameters() { h.add(UnsafeRawBufferPointer(start: p.pointer, count: p.count * 4)) }
    return h.value
}

/// ‖a − b‖ / ‖b‖.
func relativeDifference(_ a: Tensor, _ b: Tensor) -> Double {
    var d = 0.0, n = 0.0
    for i in 0..<a.count {
        let (u, v) = (Double(a.pointer[i]), Double(b.pointer[i]))
        d += (u - v) * (u - v); n += v * v
    }
    return (d / max(n, 1e-300)).squareRoot()
}

/// All tensors' values in one tensor.
func flat(_ tensors: [Tensor]) -> Tensor {
    let out = Tensor(uninitialized: [tensors.reduce(0) { $0 + $1.count }])
    var offset = 0
    for t in tensors { (out.pointer + offset).update(from: t.pointer, count: t.count); offset += t.count }
    return out
}
