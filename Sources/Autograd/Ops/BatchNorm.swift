import Kernels

/// Sums per-channel statistics across the ranks that share a SyncBatchNorm layer.
/// The data-parallel layer provides one; without it, statistics stay local.
public protocol StatisticsReducer: AnyObject {
    /// Replaces every value with its sum over all ranks.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>)
}

/// `F.batch_norm` over NCHW (or NC) input. In training mode the batch mean and biased
/// variance normalise, and `runningMean`/`runningVar` move by `momentum` towards the batch
/// mean and unbiased variance; in eval mode the running statistics normalise. With a
/// `reducer`, training-mode statistics and their backward sums cover every rank's batch.
/// With `relu`, returns `relu(batch_norm(x))` (values and gradients alike) in the same passes.
public func batchNorm2d(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?,
                        training: Bool, momentum: Double = 0.1, eps: Double = 1e-5,
                        reducer: StatisticsReducer? = nil, relu: Bool = false) -> Tensor {
    precondition(x.rank == 4 || x.rank == 2, "batch_norm: expects NCHW or NC input, got \(x.shape)")
    let c = x.shape[1]
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] {
        precondition(t == nil || t!.shape == [c], "batch_norm: \(name) \(t!.shape) for input \(x.shape)")
    }
    let passes = BatchNormPasses(x)
    let (mean, invStd, count) = training
        ? passes.batchFactors(x, momentum: momentum, eps: eps, reducer: reducer, runningMean: runningMean, runningVar: runningVar)
        : passes.runningFactors(eps: eps, runningMean: runningMean, runningVar: runningVar)
    let y = Tensor(uninitialized: x.shape, format: x.format)
    passes.normalize(x, mean: mean, invStd: invStd, weight: weight, bias: bias, relu: relu, y: y)
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    // With the ReLU, its output says where gradients pass.
    let reluOutput = relu ? y.storage : nil
    return y.record(.batchNorm(training: training, eps: eps, relu: relu, runningMean: runningMean, runningVar: runningVar,
                               hasWeight: weight != nil, hasBias: bias != nil), inputs: inputs) { upstream in
        let dy = upstream.converted(to: x.format)
        var sums = [Double](repeating: 0, count: 2 * c)
        // Written after the sums over dy are taken, element by element: dy's memory can take it.
        let dx = x.requiresGrad ? dy.gradientBuffer(x.shape, format: x.format) : nil
        let dw = weight?.requiresGrad == true ? Tensor(zeros: [c]) : nil
        let db = bias?.requiresGrad == true ? Tensor(zeros: [c]) : nil
        sums.withUnsafeMutableBufferPointer { buffer in
            let sumDy = buffer.baseAddress!, sumDyXmu = buffer.baseAddress! + c
            passes.reduce(dy, x, mean: mean, reluOutput: reluOutput, sumDy: sumDy, sumDyXmu: sumDyXmu)
            // Weight and bias gradients come from this rank's sums; the gradient all-reduce averages them.
            BatchNormKernel.parameterGradients(channels: c, invStd: invStd.pointer, sumDy: sumDy, sumDyXmu: sumDyXmu,
                                               dWeight: dw?.pointer, dBias: db?.pointer)
            guard let dx else { return }
            if training { reducer?.allReduceSum(buffer) }
            passes.inputGradient(dy, x, training: training, mean: mean, invStd: invStd, weight: weight, reluOutput: reluOutput,
                                 sumDy: sumDy, sumDyXmu: sumDyXmu, count: count, dx: dx)
        }
        var result: [Tensor?] = [dx]
        if weight != nil { result.append(dw) }
        if bias != nil { result.append(db) }
        return result
    }
}

/// Batch norm's passes over one input's geometry, on plain float32 or, for blocked input
/// (bf16-mixed's activations), on the tensor as it is held, into the same format.
private struct BatchNormPasses {
    let n: Int, c: Int, plane: Int
    let blocked: BlockedBatchNormKernel.Geometry?

    init(_ x: Tensor) {
        (n, c) = (x.shape[0], x.shape[1])
        plane = x.rank == 4 ? x.shape[2] * x.shape[3] : 1
        blocked = x.format == .plain ? nil
            : BlockedBatchNormKernel.Geometry(batch: n, channels: c, plane: plane, element: x.format.element)
    }

    /// Training mode: the batch's mean and 1/σ (over every rank's batch with a `reducer`), the
    /// number of values they cover, and the running statistics moved towards them.
    func batchFactors(_ x: Tensor, momentum: Double, eps: Double, reducer: StatisticsReducer?,
                      runningMean: Tensor?, runningVar: Tensor?) -> (mean: Tensor, invStd: Tensor, count: Double) {
        var sums = [Double](repeating: 0, count: 2 * c + 1)
        sums.withUnsafeMutableBufferPointer { buffer in
            let (sum, squares) = (buffer.baseAddress!, buffer.baseAddress! + c)
            if let blocked {
                BlockedBatchNormKernel.statistics(x: x.rawPointer, blocked, sum: sum, sumSquares: squares)
            } else {
                BatchNormKernel.statistics(x: x.pointer, batch: n, channels: c, plane: plane, sum: sum, sumSquares: squares)
            }
            buffer[2 * c] = Double(n * plane)
            reducer?.allReduceSum(buffer)
        }
        let count = sums[2 * c]
        precondition(count > 1 || runningVar == nil, "batch_norm: expected more than 1 value per channel when training, got input \(x.shape)")
        let mean = Tensor(uninitialized: [c]), invStd = Tensor(uninitialized: [c])
        var batchMean = [Double](repeating: 0, count: c), batchVar = [Double](repeating: 0, count: c)
        for ch in 0..<c {
            batchMean[ch] = sums[ch] / count
            batchVar[ch] = max(sums[c + ch] / count - batchMean[ch] * batchMean[ch], 0)
            mean.pointer[ch] = Float(batchMean[ch])
            invStd.pointer[ch] = Float(1 / (batchVar[ch] + eps).squareRoot())
        }
        if let runningMean, let runningVar {
            BatchNormKernel.updateRunningStatistics(channels: c, mean: batchMean, biasedVariance: batchVar, count: count,
                                                    momentum: momentum, runningMean: runningMean.pointer,
                                                    runningVar: runningVar.pointer)
        }
        return (mean, invStd, count)
    }

    /// Eval mode: the running statistics' mean and 1/σ.
    func runningFactors(eps: Double, runningMean: Tensor?,
                        runningVar: Tensor?) -> (mean: Tensor, invStd: Tensor, count: Double) {
        guard let runningMean, let runningVar else {
            preconditionFailure("batch_norm: eval mode needs running statistics")
        }
        let mean = Tensor(uninitialized: [c]), invStd = Tensor(uninitialized: [c])
        for ch in 0..<c {
            mean.pointer[ch] = runningMean.pointer[ch]
            invStd.pointer[ch] = Float(1 / (Double(runningVar.pointer[ch]) + eps).squareRoot())
        }
        return (mean, invStd, Double(n * plane))
    }

    func normalize(_ x: Tensor, mean: Tensor, invStd: Tensor, weight: Tensor?, bias: Tensor?, relu: Bool, y: Tensor) {
        if let blocked {
            BlockedBatchNormKernel.normalize(x: x.rawPointer, blocked, mean: mean.pointer, invStd: invStd.pointer,
                                             weight: weight?.pointer, bias: bias?.pointer, relu: relu, y: y.rawPointer)
        } else {
            BatchNormKernel.normalize(x: x.pointer, batch: n, channels: c, plane: plane, mean: mean.pointer,
                                      invStd: invStd.pointer, weight: weight?.pointer, bias: bias?.pointer, relu: relu, y: y.pointer)
        }
    }

    func reduce(_ dy: Tensor, _ x: Tensor, mean: Tensor, reluOutput: Storage?,
                sumDy: UnsafeMutablePointer<Double>, sumDyXmu: UnsafeMutablePointer<Double>) {
        if let blocked {
            BlockedBatchNormKernel.backwardReduce(dy: dy.rawPointer, x: x.rawPointer, blocked, mean: mean.pointer,
                                                  reluOutput: reluOutput.map { UnsafeRawPointer($0.base) },
                                                  sumDy: sumDy, sumDyXmu: sumDyXmu)
        } else {
            BatchNormKernel.backwardReduce(dy: dy.pointer, x: x.pointer, batch: n, channels: c, plane: plane,
                                           mean: mean.pointer, reluOutput: reluOutput?.base, sumDy: sumDy, sumDyXmu: sumDyXmu)
        }
    }

    func inputGradient(_ dy: Tensor, _ x: Tensor, training: Bool, mean: Tensor, invStd: Tensor, weight: Tensor?,
                       reluOutput: Storage?, sumDy: UnsafePointer<Double>, sumDyXmu: UnsafePointer<Double>,
                       count: Double, dx: Tensor) {
        switch (blocked, training) {
        case (let g?, true):
            BlockedBatchNormKernel.backwardInput(dy: dy.rawPointer, x: x.rawPointer, g, mean: mean.pointer, invStd: invStd.pointer,
                                                 weight: weight?.pointer, reluOutput: reluOutput.map { UnsafeRawPointer($0.base) },
                                                 sumDy: sumDy, sumDyXmu: sumDyXmu, count: count, dx: dx.rawPointer)
        case (let g?, false):
            BlockedBatchNormKernel.backwardInputEval(dy: dy.rawPointer, g, invStd: invStd.pointer, weight: weight?.pointer,
                                                     reluOutput: reluOutput.map { UnsafeRawPointer($0.base) }, dx: dx.rawPointer)
        case (nil, true):
            BatchNormKernel.backwardInput(dy: dy.pointer, x: x.pointer, batch: n, channels: c, plane: plane,
                                          mean: mean.pointer, invStd: invStd.pointer, weight: weight?.pointer,
                                          reluOutput: reluOutput?.base, sumDy: sumDy, sumDyXmu: sumDyXmu, count: count,
                                          dx: dx.pointer)
        case (nil, false):
            BatchNormKernel.backwardInputEval(dy: dy.pointer, batch: n, channels: c, plane: plane, invStd: invStd.pointer,
                                              weight: weight?.pointer, reluOutput: reluOutput?.base, dx: dx.pointer)
        }
    }
}
