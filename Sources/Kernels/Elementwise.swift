/// Elementwise binary operations with NumPy/PyTorch broadcasting, and the reductions
/// their backward passes need. Adjacent axes that broadcast alike are merged first, so the
/// common cases (same shape; `[N,C,H,W] ∘ [N,C,1,1]`; `[B,L,E] + [1,L,E]`) run as a few long
/// contiguous loops.
public struct BroadcastLayout: Equatable, Sendable {
    /// The output shape.
    public let shape: [Int]
    /// Merged extents and, per operand, its element stride along each (0 where it broadcasts).
    let extents: [Int]
    let stridesA: [Int]
    let stridesB: [Int]

    /// Nil when the shapes cannot broadcast.
    public init?(_ a: [Int], _ b: [Int]) {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: 1, count: rank - a.count) + a
        let pb = Array(repeating: 1, count: rank - b.count) + b
        var out = [Int]()
        for (x, y) in zip(pa, pb) {
            guard x == y || x == 1 || y == 1 else { return nil }
            out.append(x == 1 ? y : x)
        }
        shape = out
        // Drop unit axes, then merge neighbours whose broadcast pattern is the same.
        var ext = [Int](), bcA = [Bool](), bcB = [Bool]()
        for i in 0..<rank where out[i] != 1 {
            let ba = pa[i] == 1, bb = pb[i] == 1
            if let last = ext.indices.last, bcA[last] == ba, bcB[last] == bb {
                ext[last] *= out[i]
            } else {
                ext.append(out[i]); bcA.append(ba); bcB.append(bb)
            }
        }
        if ext.isEmpty { ext = [1]; bcA = [false]; bcB = [false] }
        func strides(_ broadcast: [Bool]) -> [Int] {
            var result = [Int](repeating: 0, count: ext.count)
            var step = 1
            for i in stride(from: ext.count - 1, through: 0, by: -1) {
                result[i] = broadcast[i] ? 0 : step
                if !broadcast[i] { step *= ext[i] }
            }
            return result
        }
        extents = ext; stridesA = strides(bcA); stridesB = strides(bcB)
    }

    public var count: Int { extents.reduce(1, *) }

    /// Visits the output in contiguous runs along the last merged axis:
    /// `body(outOffset, aOffset, bOffset, runLength)`.
    @inline(__always)
    func forEachRun(_ body: (Int, Int, Int, Int) -> Void) {
        let last = extents.count - 1
        let run = extents[last]
        let outer = count / run
        Parallel.forRanges(outer, grain: max(1, 16384 / max(run, 1))) { range in
            for o in range {
                var rest = o, offA = 0, offB = 0
                for axis in stride(from: last - 1, through: 0, by: -1) {
                    let i = rest % extents[axis]
                    rest /= extents[axis]
                    offA += i * stridesA[axis]; offB += i * stridesB[axis]
                }
                body(o * run, offA, offB, run)
            }
        }
    }
}

public enum BinaryOp: Sendable { case add, subtract, multiply, divide }

public enum ElementwiseKernel {
    public static func binary(_ op: BinaryOp, _ layout: BroadcastLayout, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                              out: UnsafeMutablePointer<Float>) {
        let sa = layout.stridesA.last!, sb = layout.stridesB.last!
        layout.forEachRun { o, ia, ib, n in
            let x = a + ia, y = b + ib, z = out + o
            switch (op, sa, sb) {
            case (.add, 1, 1): for i in 0..<n { z[i] = x[i] + y[i] }
            case (.add, 1, 0): let c = y[0]; for i in 0..<n { z[i] = x[i] + c }
            case (.add, 0, 1): let c = x[0]; for i in 0..<n { z[i] = c + y[i] }
            case (.multiply, 1, 1): for i in 0..<n { z[i] = x[i] * y[i] }
            case (.multiply, 1, 0): let c = y[0]; for i in 0..<n { z[i] = x[i] * c }
            case (.multiply, 0, 1): let c = x[0]; for i in 0..<n { z[i] = c * y[i] }
            default:
                for i in 0..<n {
                    let u = x[i * sa], v = y[i * sb]
                    switch op {
                    case .add: z[i] = u + v
                    case .subtract: z[i] = u - v
                    case .multiply: z[i] = u * v
                    case .divide: z[i] = u / v
                    }
                }
            }
        }
    }

    /// Sums `source` (output-shaped) down onto operand A's or B's shape: `target` is accumulated into.
    /// With `factor`, each term is first multiplied by the other operand (the product rule).
    public static func reduceToOperand(_ layout: BroadcastLayout, operandIsA: Bool, source: UnsafePointer<Float>,
                                       factor: UnsafePointer<Float>? = nil, target: UnsafeMutablePointer<Float>) {
        let strides = operandIsA ? layout.stridesA : layout.stridesB
        let factorStrides = operandIsA ? layout.stridesB : layout.stridesA
        let last = layout.extents.count - 1
        let run = layout.extents[last]
        let outer = layout.count / run
        let st = strides[last], sf = factorStrides[last]
        // Threads may only split along axes where the target does not broadcast.
        let safeToSplit = !strides.dropLast().contains(0)
        let visit: (Range<Int>) -> Void = { range in
            for o in range {
                var rest = o, off = 0, offF = 0
                for axis in stride(from: last - 1, through: 0, by: -1) {
                    let i = rest % layout.extents[axis]
                    rest /= layout.extents[axis]
                    off += i * strides[axis]; offF += i * factorStrides[axis]
                }
                let src = source + o * run, dst = target + off
                if let factor {
                    let f = factor + offF
                    if st == 0 {
                        var total: Float = 0
                        for i in 0..<run { total += src[i] * f[i * sf] }
                        dst[0] += total
                    } else {
                        for i in 0..<run { dst[i] += src[i] * f[i * sf] }
                    }
                } else if st == 0 {
                    var total: Float = 0
                    for i in 0..<run { total += src[i] }
                    dst[0] += total
                } else {
                    for i in 0..<run { dst[i] += src[i] }
                }
            }
        }
        if safeToSplit { Parallel.forRanges(outer, grain: max(1, 16384 / max(run, 1)), visit) } else { visit(0..<outer) }
    }

    /// `y = x · scalar`.
    public static func scale(_ x: UnsafePointer<Float>, by scalar: Float, into y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: 32768) { r in for i in r { y[i] = x[i] * scalar } }
    }

    /// `y += x`.
    public static func accumulate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: 32768) { r in for i in r { y[i] += x[i] } }
    }

    /// `y = 0`, on every thread for large buffers (gradients kept across steps are zeroed each step).
    public static func zero(_ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: 1 << 18) { r in (y + r.lowerBound).update(repeating: 0, count: r.count) }
    }

    /// True when no value is NaN or ±Inf (`v·0` is 0 for finite values, NaN otherwise).
    public static func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
        var lanes = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= count {
            lanes += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) * 0
            i += 16
        }
        var rest: Float = 0
        while i < count { rest += x[i] * 0; i += 1 }
        return (lanes.sum() + rest) == 0
    }

    /// Multiplies x by `scale` in place; returns whether every value was finite and Σ(scaled x)²
    /// (in Double over chunks; a value beyond √Float.max makes the sum infinite, not the answer).
    public static func scaleCheckingFinite(_ x: UnsafeMutablePointer<Float>, count: Int, by scale: Float) -> (finite: Bool, sumOfSquares: Double) {
        var zeros = SIMD16<Float>(repeating: 0)
        var total = 0.0
        var i = 0
        while i + 16 <= count {
            let end = min(count - 15, i + 1024)
            var squares = SIMD16<Float>(repeating: 0)
            while i < end {
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) * scale
                zeros += v * 0
                squares += v * v
                UnsafeMutableRawPointer(x + i).storeBytes(of: v, as: SIMD16<Float>.self)
                i += 16
            }
            total += Double(squares.sum())
        }
        var rest: Float = 0
        while i < count {
            let v = x[i] * scale
            rest += v * 0
            total += Double(v * v)
            x[i] = v
            i += 1
        }
        return ((zeros.sum() + rest) == 0, total)
    }

    /// Σx in Double.
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total: Double = 0
        var i = 0
        while i < count {
            let end = min(count, i + 1024)
            var partial: Float = 0
            while i < end { partial += x[i]; i += 1 }
            total += Double(partial)
        }
        return total
    }

    /// Copies `[d0, d1, ..., dk]` into the axis order `permutation` (y's axis j is x's axis permutation[j]).
    public static func permute(_ x: UnsafePointer<Float>, shape: [Int], permutation: [Int], into y: UnsafeMutablePointer<Float>) {
        let rank = shape.count
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let outShape = permutation.map { shape[$0] }
        let stridesFromOut = permutation.map { inStrides[$0] }
        let run = outShape.last ?? 1
        let runStride = stridesFromOut.last ?? 1
        let outer = outShape.reduce(1, *) / max(run, 1)
        Parallel.forRanges(outer, grain: max(1, 8192 / max(run, 1))) { range in
            for o in range {
                var rest = o, off = 0
                for axis in stride(from: rank - 2, through: 0, by: -1) {
                    let i = rest % outShape[axis]
                    rest /= outShape[axis]
                    off += i * stridesFromOut[axis]
                }
                let dst = y + o * run, src = x + off
                for i in 0..<run { dst[i] = src[i * runStride] }
            }
        }
    }
}
