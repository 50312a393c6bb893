import Autograd
import Distributed
import Kernels
import NN

/// PowerSGD across ranks: every rank applies the same gradient; error feedback loses nothing
/// (what was applied plus the ranks' mean error is the mean of the true gradients); warm-up
/// steps are exact; the factors combine the ranks' gradients correctly (a mean of low rank
/// comes through exactly); and the checkpointed state continues bit for bit.
func checkPowerSGD(_ comm: MPICommunicator, _ check: (Bool, String) -> Void) throws {
    let (rank, size) = (comm.rank, comm.size)
    let tag = "[\(size) ranks]"
    try checkPowerSGDRecoversALowRankMean(comm, check)
    func makeModel() -> Sequential { Sequential(Linear(64, 32), ReLU(), Linear(32, 8)) }
    Initializers.manualSeed(21)
    let model = makeModel(), twin = makeModel()
    for (a, b) in zip(twin.parameters(), model.parameters()) { a.copyValues(from: b) }
    let options = DataParallel.Options(compression: .powerSGD, powerSGDRank: 2, powerSGDWarmupSteps: 2)
    let ddp = try DataParallel(model: model, communicator: comm, settings: ["check=powersgd"], options: options)
    for (a, b) in zip(twin.parameters(), model.parameters()) { a.copyValues(from: b) }  // rank 0's start

    /// Each rank's own batch for step `t`.
    func batch(_ t: Int) -> (Tensor, [Int32]) {
        var generator = RandomGenerator(seed: 77, stream: UInt64(rank), UInt64(t))
        return (Tensor.randn([16, 64], using: &generator), (0..<16).map { _ in Int32(generator.next() % 8) })
    }
    /// This rank's true gradient and the mean over ranks, through the uncompressed twin.
    func trueGradients(_ t: Int) -> (mine: Tensor, mean: Tensor) {
        let (x, y) = batch(t)
        twin.zeroGrad()
        crossEntropy(twin(x), labels: y).backward()
        let mine = flat(twin.parameters().map { $0.grad! })
        let mean = Tensor(copying: mine)
        comm.allReduceAverage(UnsafeMutableBufferPointer(start: mean.pointer, count: mean.count))
        return (mine, mean)
    }
    func step(_ ddp: DataParallel, _ model: Sequential, _ t: Int) -> Tensor {
        let (x, y) = batch(t)
        model.zeroGrad()
        crossEntropy(model(x), labels: y).backward()
        _ = ddp.finishGradientSynchronization()
        return flat(model.parameters().map { $0.grad! })
    }

    var appliedSum = [Double](repeating: 0, count: model.parameterCount)
    var trueSum = appliedSum
    var identical = true, warmupExact = true
    for t in 0..<8 {
        let (_, mean) = trueGradients(t)
        let applied = step(ddp, model, t)
        let bits = comm.allGather(applied.toArray().flatMap { withUnsafeBytes(of: $0.bitPattern) { Array($0) } })
        if Set(bits).count != 1 { identical = false }
        if t < 2 && relativeDifference(applied, mean) > 1e-6 { warmupExact = false }
        for i in 0..<applied.count { appliedSum[i] += Double(applied.pointer[i]); trueSum[i] += Double(mean.pointer[i]) }
    }
    check(identical, "\(tag) PowerSGD: every rank applies the same gradient, bit for bit")
    check(warmupExact, "\(tag) PowerSGD: the 2 warm-up steps all-reduce the exact mean")

    // Error feedback: Σ applied + mean error = Σ mean gradient.
    let state = ddp.compressionState()
    let errorKeys = state.keys.filter { $0.hasPrefix("powersgd.error.\(rank).") }.sorted()
    check(!errorKeys.isEmpty && state.keys.contains { $0.hasPrefix("powersgd.q.") }
          && state.keys.filter { $0.hasPrefix("powersgd.error.") }.count == errorKeys.count * size,
          "\(tag) PowerSGD state: Q per bucket and every rank's error (\(state.keys.count) entries)")
    // Buckets hold parameters last-first; map each bucket's error back to parameter order.
    var meanError = [Double](repeating: 0, count: model.parameterCount)
    var offsets: [ObjectIdentifier: Int] = [:], at = 0
    for p in model.parameters() { offsets[ObjectIdentifier(p)] = at; at += p.count }
    var bucketParameters: [[Tensor]] = [[]]  // the one bucket of this small model: reversed registration order
    bucketParameters[0] = model.parameters().reversed()
    for r in 0..<size {
        guard let error = state["powersgd.error.\(r).0"] else { continue }
        var position = 0
        for p in bucketParameters[0] {
            let base = offsets[ObjectIdentifier(p)]!
            for i in 0..<p.count { meanError[base + i] += Double(error.pointer[position + i]) / Double(size) }
            position += p.count
        }
    }
    var gap = 0.0, norm = 0.0
    for i in 0..<trueSum.count {
        gap = max(gap, abs(appliedSum[i] + meanError[i] - trueSum[i]))
        norm = max(norm, abs(trueSum[i]))
    }
    check(gap <= 1e-4 * norm, "\(tag) PowerSGD error feedback loses nothing: max |Σapplied + ē − Σḡ| = \(gap) of \(norm)")
    let rawFraction = ddp.bucketWireFloats.reduce(0, +) * 4
    check(rawFraction < ddp.bucketSizesInBytes.reduce(0, +), "\(tag) PowerSGD sends fewer bytes (\(rawFraction) of \(ddp.bucketSizesInBytes.reduce(0, +)))")

    // Resume: a new DataParallel restored from the state continues exactly as the original.
    Initializers.manualSeed(21)
    let copy = makeModel()
    for (a, b) in zip(copy.parameters(), model.parameters()) { a.copyValues(from: b) }
    let resumed = try DataParallel(model: copy, communicator: comm, settings: ["check=powersgd"], options: options)
    resumed.synchronizedSteps = ddp.synchronizedSteps
    let note = try resumed.restoreCompressionState(state)
    let continued = step(ddp, model, 8), restarted = step(resumed, copy, 8)
    check(note == nil && continued.toArray() == restarted.toArray(),
          "\(tag) PowerSGD state restored: the next step's gradient is bit-identical")
}

/// One sample per rank makes each rank's weight gradient of a bias-free linear layer rank 1
/// (dW = dy·xᵀ), so the mean over P ranks has rank at most P, and PowerSGD at rank P must return
/// it exactly: P = Σ M_r·Q spans its columns, and P̂·P̂ᵀ·M̄ = M̄. A wrong sum or scale anywhere in
/// the two exchanges (P summed, Q summed, the 1/P share, the error) would miss it.
func checkPowerSGDRecoversALowRankMean(_ comm: MPICommunicator, _ check: (Bool, String) -> Void) throws {
    let (rank, size) = (comm.rank, comm.size)
    Initializers.manualSeed(5)
    let layer = Linear(64, 32, bias: false), twin = Linear(64, 32, bias: false)
    let options = DataParallel.Options(compression: .powerSGD, powerSGDRank: size, powerSGDWarmupSteps: 0)
    let ddp = try DataParallel(model: layer, communicator: comm, settings: ["check=powersgd-low-rank"], options: options)
    twin.weight.copyValues(from: layer.weight)
    var worst = 0.0
    for t in 0..<3 {
        var generator = RandomGenerator(seed: 91, stream: UInt64(rank), UInt64(t))
        let x = Tensor.randn([1, 64], using: &generator), label: [Int32] = [Int32(generator.next() % 32)]
        twin.zeroGrad()
        crossEntropy(twin(x), labels: label).backward()
        let mean = Tensor(copying: twin.weight.grad!)
        comm.allReduceAverage(UnsafeMutableBufferPointer(start: mean.pointer, count: mean.count))
        layer.zeroGrad()
        crossEntropy(layer(x), labels: label).backward()
        _ = ddp.finishGradientSynchronization()
        worst = max(worst, relativeDifference(layer.weight.grad!, mean))
        // The error is ~0 each step (the mean was captured), so every step starts afresh.
    }
    check(worst <= 1e-4, "[\(size) ranks] PowerSGD at rank \(size) returns a rank-\(size) mean gradient exactly: ‖Δ‖/‖ḡ‖ = \(worst)")
}
