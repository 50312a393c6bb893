import Autograd
import Distributed
import Kernels
import NN

/// PowerSGD across ranks: every rank applies the same gradient; error feedback loses nothing
/// (what was applied plus the ranks' mean error is the mean of the true gradients); warm-up
/// steps are exact; the factors combine the ranks' gradients correctly (a mean of low rank
/// comes through exactly); and the checkpointed state continues bit for bit.
func checkPowerSGD(_ comm: MPICommunicator, _ check: (Bool, String) -> Void) throws {
    try checkPowerSGDRecoversALowRankMean(comm, check)
    let run = try PowerSGDRun(comm)
    let sums = run.checkSteps(check)
    let state = run.ddp.compressionState()
    run.checkErrorFeedback(state: state, appliedSum: sums.applied, trueSum: sums.mean, check)
    try run.checkResume(state: state, check)
}

/// A small MLP trained through PowerSGD (rank 2, 2 warm-up steps) beside an uncompressed twin
/// that gives each step's true gradients.
final class PowerSGDRun {
    let comm: MPICommunicator
    let tag: String
    let model: Sequential, twin: Sequential
    let options = DataParallel.Options(compression: .powerSGD, powerSGDRank: 2, powerSGDWarmupSteps: 2)
    let ddp: DataParallel

    static func makeModel() -> Sequential { Sequential(Linear(64, 32), ReLU(), Linear(32, 8)) }

    init(_ comm: MPICommunicator) throws {
        self.comm = comm
        tag = "[\(comm.size) ranks]"
        Initializers.manualSeed(21)
        (model, twin) = (Self.makeModel(), Self.makeModel())
        for (a, b) in zip(twin.parameters(), model.parameters()) { a.copyValues(from: b) }
        ddp = try DataParallel(model: model, communicator: comm, settings: ["check=powersgd"], options: options)
        for (a, b) in zip(twin.parameters(), model.parameters()) { a.copyValues(from: b) }  // rank 0's start
    }

    /// Each rank's own batch for step `t`.
    func batch(_ t: Int) -> (Tensor, [Int32]) {
        var generator = RandomGenerator(seed: 77, stream: UInt64(comm.rank), UInt64(t))
        return (Tensor.randn([16, 64], using: &generator), (0..<16).map { _ in Int32(generator.next() % 8) })
    }

    /// The mean over ranks of the true gradients of step `t`, through the uncompressed twin.
    func meanTrueGradient(_ t: Int) -> Tensor {
        let (x, y) = batch(t)
        twin.zeroGrad()
        crossEntropy(twin(x), labels: y).backward()
        let mean = flat(twin.parameters().map { $0.grad! })
        comm.allReduceAverage(UnsafeMutableBufferPointer(start: mean.pointer, count: mean.count))
        return mean
    }

    /// The gradient `ddp` applies at step `t`.
    func step(_ ddp: DataParallel, _ model: Sequential, _ t: Int) -> Tensor {
        let (x, y) = batch(t)
        model.zeroGrad()
        crossEntropy(model(x), labels: y).backward()
        _ = ddp.finishGradientSynchronization()
        return flat(model.parameters().map { $0.grad! })
    }

    /// 8 steps: every rank applies the same bits, and the warm-up steps the exact mean; returns
    /// the sums of the applied and of the true mean gradients.
    func checkSteps(_ check: (Bool, String) -> Void) -> (applied: [Double], mean: [Double]) {
        var appliedSum = [Double](repeating: 0, count: model.parameterCount)
        var trueSum = appliedSum
        var identical = true, warmupExact = true
        for t in 0..<8 {
            let mean = meanTrueGradient(t)
            let applied = step(ddp, model, t)
            let bits = comm.allGather(applied.toArray().flatMap { withUnsafeBytes(of: $0.bitPattern) { Array($0) } })
            if Set(bits).count != 1 { identical = false }
            if t < 2 && relativeDifference(applied, mean) > 1e-6 { warmupExact = false }
            for i in 0..<applied.count { appliedSum[i] += Double(applied.pointer[i]); trueSum[i] += Double(mean.pointer[i]) }
        }
        check(identical, "\(tag) PowerSGD: every rank applies the same gradient, bit for bit")
        check(warmupExact, "\(tag) PowerSGD: the 2 warm-up steps all-reduce the exact mean")
        return (appliedSum, trueSum)
    }

    /// Error feedback: Σ applied + mean error = Σ mean gradient; and fewer bytes on the wire.
    func checkErrorFeedback(state: [String: Tensor], appliedSum: [Double], trueSum: [Double], _ check: (Bool, String) -> Void) {
        let (rank, size) = (comm.rank, comm.size)
        let errorKeys = state.keys.filter { $0.hasPrefix("powersgd.error.\(rank).") }.sorted()
        check(!errorKeys.isEmpty && state.keys.contains { $0.hasPrefix("powersgd.q.") }
              && state.keys.filter { $0.hasPrefix("powersgd.error.") }.count == errorKeys.count * size,
              "\(tag) PowerSGD state: Q per bucket and every rank's error (\(state.keys.count) entries)")
        let meanError = meanErrorInParameterOrder(state)
        var gap = 0.0, norm = 0.0
        for i in 0..<trueSum.count {
            gap = max(gap, abs(appliedSum[i] + meanError[i] - trueSum[i]))
            norm = max(norm, abs(trueSum[i]))
        }
        check(gap <= 1e-4 * norm, "\(tag) PowerSGD error feedback loses nothing: max |Σapplied + ē − Σḡ| = \(gap) of \(norm)")
        let rawFraction = ddp.bucketWireFloats.reduce(0, +) * 4
        check(rawFraction < ddp.bucketSizesInBytes.reduce(0, +),
              "\(tag) PowerSGD sends fewer bytes (\(rawFraction) of \(ddp.bucketSizesInBytes.reduce(0, +)))")
    }

    /// The ranks' mean error, mapped from the one bucket of this small model (which holds the
    /// parameters last-first) back to parameter order.
    func meanErrorInParameterOrder(_ state: [String: Tensor]) -> [Double] {
        var meanError = [Double](repeating: 0, count: model.parameterCount)
        var offsets: [ObjectIdentifier: Int] = [:], at = 0
        for p in model.parameters() { offsets[ObjectIdentifier(p)] = at; at += p.count }
        for r in 0..<comm.size {
            guard let error = state["powersgd.error.\(r).0"] else { continue }
            var position = 0
            for p in model.parameters().reversed() {
                guard let base = offsets[ObjectIdentifier(p)] else { continue }
                for i in 0..<p.count { meanError[base + i] += Double(error.pointer[position + i]) / Double(comm.size) }
                position += p.count
            }
        }
        return meanError
    }

    /// Resume: a new DataParallel restored from the state continues exactly as the original.
    func checkResume(state: [String: Tensor], _ check: (Bool, String) -> Void) throws {
        Initializers.manualSeed(21)
        let copy = Self.makeModel()
        for (a, b) in zip(copy.parameters(), model.parameters()) { a.copyValues(from: b) }
        let resumed = try DataParallel(model: copy, communicator: comm, settings: ["check=powersgd"], options: options)
        resumed.synchronizedSteps = ddp.synchronizedSteps
        let note = try resumed.restoreCompressionState(state)
        let continued = step(ddp, model, 8), restarted = step(resumed, copy, 8)
        check(note == nil && continued.toArray() == restarted.toArray(),
              "\(tag) PowerSGD state restored: the next step's gradient is bit-identical")
    }
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
