/// Batch normalisation over NCHW in four passes, so that a distributed caller can
/// all-reduce the per-channel sums between them (SyncBatchNorm):
///
///   forward:  statistics (Σx, Σx², count) → [all-reduce] → normalise with mean and 1/σ
///   backward: reduce (Σdy, Σdy·(x−μ))    → [all-reduce] → input gradient
///
/// A ReLU after the batch norm can run inside it: `normalize` clamps at zero, and the backward
/// passes take `dy` only where the saved output `y` is positive (`relu`'s own backward rule),
/// which saves the ReLU's two passes over memory each way.
public enum BatchNormKernel {
    /// Per-channel `sum[c] = Σx` and `sumSquares[c] = Σx²`, in Double so that large
    /// batches and channels with a big mean keep their variance.
    public static func statistics(x: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int,
                                  sum: UnsafeMutablePointer<Double>, sumSquares: UnsafeMutablePointer<Double>) {
        Parallel.forEach(channels, grain: max(1, 16384 / max(batch * plane, 1))) { c in
            var s: Double = 0, q: Double = 0
            for n in 0..<batch {
                let row = x + (n * channels + c) * plane
                pairedSums(plane, into: &s, &q) { i in
                    let v = load(row, i) as SIMD8<Float>
                    return (v, v * v)
                } scalar: { i in
                    let v = row[i]
                    return (v, v * v)
                }
            }
            sum[c] = s; sumSquares[c] = q
        }
    }

    /// `y = (x − mean) · invStd · weight + bias`, per channel; with `relu`, `max(y, 0)`.
    public static func normalize(x: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int,
                                 mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                 weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                 relu: Bool = false, y: UnsafeMutablePointer<Float>) {
        Parallel.forEach(batch * channels, grain: max(1, 16384 / max(plane, 1))) { nc in
            let c = nc % channels
            let scale = invStd[c] * (weight?[c] ?? 1)
            let shift = (bias?[c] ?? 0) - mean[c] * scale
            let src = x + nc * plane, dst = y + nc * plane
            if relu {
                for i in 0..<plane { dst[i] = max(src[i] * scale + shift, 0) }
            } else {
                for i in 0..<plane { dst[i] = src[i] * scale + shift }
            }
        }
    }

    /// Per-channel `sumDy[c] = Σdy` and `sumDyXmu[c] = Σdy·(x − mean)`; with `reluOutput`,
    /// `dy` counts only where that output is positive.
    public static func backwardReduce(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, channels: Int,
                                      plane: Int, mean: UnsafePointer<Float>, reluOutput: UnsafePointer<Float>? = nil,
                                      sumDy: UnsafeMutablePointer<Double>, sumDyXmu: UnsafeMutablePointer<Double>) {
        Parallel.forEach(channels, grain: max(1, 16384 / max(batch * plane, 1))) { c in
            let m = mean[c]
            var s: Double = 0, q: Double = 0
            for n in 0..<batch {
                let offset = (n * channels + c) * plane
                let g = dy + offset, v = x + offset
                if let reluOutput {
                    let y = reluOutput + offset
                    pairedSums(plane, into: &s, &q) { i in
                        let d = reluPassed(g, where: y, at: i)
                        return (d, d * (load(v, i) - SIMD8(repeating: m)))
                    } scalar: { i in
                        let d = reluPassed(g[i], where: y[i])
                        return (d, d * (v[i] - m))
                    }
                } else {
                    pairedSums(plane, into: &s, &q) { i in
                        let d = load(g, i) as SIMD8<Float>
                        return (d, d * (load(v, i) - SIMD8(repeating: m)))
                    } scalar: { i in
                        (g[i], g[i] * (v[i] - m))
                    }
                }
            }
            sumDy[c] = s; sumDyXmu[c] = q
        }
    }

    /// Input gradient of training-mode batch norm, with `count` the number of values each
    /// channel was normalised over (all ranks together under SyncBatchNorm):
    /// `dx = w·invStd·(dy − Σdy/count − (x − mean)·invStd²·Σdy(x−mean)/count)`.
    /// With `reluOutput`, `dy` counts only where that output is positive. `dx` may be `dy`'s
    /// memory (each element is read before it is written).
    public static func backwardInput(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, channels: Int,
                                     plane: Int, mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                     weight: UnsafePointer<Float>?, reluOutput: UnsafePointer<Float>? = nil,
                                     sumDy: UnsafePointer<Double>, sumDyXmu: UnsafePointer<Double>, count: Double,
                                     dx: UnsafeMutablePointer<Float>) {
        Parallel.forEach(batch * channels, grain: max(1, 16384 / max(plane, 1))) { nc in
            let c = nc % channels
            let istd = Double(invStd[c])
            let gain = Float(istd * Double(weight?[c] ?? 1))
            let meanDy = Float(sumDy[c] / count)
            let proj = Float(sumDyXmu[c] / count * istd * istd)
            let m = mean[c]
            let g = dy + nc * plane, v = x + nc * plane, out = dx + nc * plane
            if let reluOutput {
                let y = reluOutput + nc * plane
                var i = 0
                while i + 8 <= plane {
                    let d = reluPassed(g, where: y, at: i)
                    store(out, i, SIMD8(repeating: gain) * (d - SIMD8(repeating: meanDy)
                                                            - (load(v, i) - SIMD8(repeating: m)) * SIMD8(repeating: proj)))
                    i += 8
                }
                for i in i..<plane { out[i] = gain * (reluPassed(g[i], where: y[i]) - meanDy - (v[i] - m) * proj) }
            } else {
                for i in 0..<plane { out[i] = gain * (g[i] - meanDy - (v[i] - m) * proj) }
            }
        }
    }

    /// Input gradient in eval mode (running statistics are constants): `dx = dy · w · invStd`.
    public static func backwardInputEval(dy: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int,
                                         invStd: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
                                         reluOutput: UnsafePointer<Float>? = nil, dx: UnsafeMutablePointer<Float>) {
        Parallel.forEach(batch * channels, grain: max(1, 16384 / max(plane, 1))) { nc in
            let c = nc % channels
            let gain = invStd[c] * (weight?[c] ?? 1)
            let g = dy + nc * plane, out = dx + nc * plane
            if let reluOutput {
                let y = reluOutput + nc * plane
                var i = 0
                while i + 8 <= plane {
                    store(out, i, reluPassed(g, where: y, at: i) * SIMD8(repeating: gain))
                    i += 8
                }
                for i in i..<plane { out[i] = reluPassed(g[i], where: y[i]) * gain }
            } else {
                for i in 0..<plane { out[i] = g[i] * gain }
            }
        }
    }

    /// Weight and bias gradients from the per-channel sums: `dw += Σdy(x−mean)·invStd`, `db += Σdy`.
    public static func parameterGradients(channels: Int, invStd: UnsafePointer<Float>,
                                          sumDy: UnsafePointer<Double>, sumDyXmu: UnsafePointer<Double>,
                                          dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?) {
        for c in 0..<channels {
            dWeight?[c] += Float(sumDyXmu[c] * Double(invStd[c]))
            dBias?[c] += Float(sumDy[c])
        }
    }

    /// PyTorch's running-statistics update: the biased variance normalises, the unbiased one
    /// (count / (count − 1)) enters `running_var`.
    public static func updateRunningStatistics(channels: Int, mean: UnsafePointer<Double>, biasedVariance: UnsafePointer<Double>,
                                               count: Double, momentum: Double,
                                               runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>) {
        let correction = count > 1 ? count / (count - 1) : 1
        for c in 0..<channels {
            runningMean[c] = Float((1 - momentum) * Double(runningMean[c]) + momentum * mean[c])
            runningVar[c] = Float((1 - momentum) * Double(runningVar[c]) + momentum * biasedVariance[c] * correction)
        }
    }
}

@inline(__always) private func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) private func store(_ p: UnsafeMutablePointer<Float>, _ i: Int, _ value: SIMD8<Float>) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: value, as: SIMD8<Float>.self)
}

/// Adds `Σ first` and `Σ second` over `0..<count` to `s` and `q`: eight lanes of Float partial
/// sums at a time (the compiler does not reorder a scalar Float sum into vectors), folded into
/// Double every 256 values so long planes keep their precision.
@inline(__always) private func pairedSums(_ count: Int, into s: inout Double, _ q: inout Double,
                                          vector: (Int) -> (SIMD8<Float>, SIMD8<Float>),
                                          scalar: (Int) -> (Float, Float)) {
    var i = 0
    while i < count {
        let end = min(count, i + 256)
        var vs = SIMD8<Float>(), vq = SIMD8<Float>()
        while i + 8 <= end {
            let (a, b) = vector(i)
            vs += a; vq += b; i += 8
        }
        var ps = vs.sum(), pq = vq.sum()
        while i < end {
            let (a, b) = scalar(i)
            ps += a; pq += b; i += 1
        }
        s += Double(ps); q += Double(pq)
    }
}
