import Autograd
import Kernels

/// PowerSGD (Vogels et al., 2019) on one gradient bucket, as PyTorch's `powerSGD_hook` runs
/// it: each parameter gradient viewed as a matrix M (`[shape[0], rest]`) travels as two thin
/// factors, P = M·Q (`rows × r`) and Q = Mᵀ·P (`columns × r`), with one step of power
/// iteration per training step (Q is warm-started from the last step). What the rank-r
/// approximation misses is kept and added to the next step's gradient (error feedback), so
/// nothing is lost, only delayed. Gradients too small to gain (biases, norms, matrices where
/// the factors would not be half the size) travel as they are in the first message.
///
/// Per step: `start` (during backward, when the bucket is complete) all-reduces the plain
/// values and P; `exchangeQ` orthonormalises the summed P and all-reduces Q; `finish` writes
/// the summed approximation P·Qᵀ into the bucket and keeps the error.
final class PowerSGDBucket {
    struct Factorized {
        let offset: Int, rows: Int, columns: Int
        /// Where P starts in the first message, and Q in `q`.
        let pOffset: Int, qOffset: Int
    }

    let rank: Int
    let factorized: [Factorized]
    /// Bucket ranges sent uncompressed.
    let plain: [(offset: Int, count: Int)]
    let plainCount: Int
    /// [plain values | P of each factorized matrix]: the first all-reduce.
    let first: UnsafeMutableBufferPointer<Float>
    /// Q of each matrix: the second all-reduce, and the next step's starting point.
    let q: UnsafeMutableBufferPointer<Float>
    /// Between `start` and `finish` the compensated gradient (gradient + last error); after, the error.
    let error: UnsafeMutableBufferPointer<Float>
    let seed: UInt64

    /// PyTorch's `min_compression_rate`: factorise only where the factors are less than half the matrix.
    static let minimumCompression = 2

    init(parameters: [Tensor], offsets: [Int], count: Int, rank: Int, seed: UInt64) {
        precondition(rank > 0, "PowerSGD: rank must be positive")
        self.rank = rank
        self.seed = seed
        var factorized: [Factorized] = [], plain: [(Int, Int)] = []
        var plainCount = 0, pCount = 0, qCount = 0
        for (p, offset) in zip(parameters, offsets) {
            let rows = p.shape.first ?? 1, columns = p.count / max(rows, 1)
            if p.rank >= 2 && rows * columns > Self.minimumCompression * (rows + columns) * rank {
                factorized.append(Factorized(offset: offset, rows: rows, columns: columns, pOffset: pCount, qOffset: qCount))
                pCount += rows * rank
                qCount += columns * rank
            } else {
                plain.append((offset, p.count))
                plainCount += p.count
            }
        }
        self.factorized = factorized.map {
            Factorized(offset: $0.offset, rows: $0.rows, columns: $0.columns, pOffset: plainCount + $0.pOffset, qOffset: $0.qOffset)
        }
        self.plain = plain
        self.plainCount = plainCount
        first = .allocate(capacity: plainCount + pCount)
        first.initialize(repeating: 0)
        q = .allocate(capacity: qCount)
        error = .allocate(capacity: count)
        reset()
    }

    deinit {
        first.deallocate()
        q.deallocate()
        error.deallocate()
    }

    /// Floats on the wire per step (both messages), against `error.count` uncompressed.
    var wireCount: Int { first.count + q.count }

    /// Zero error and a fresh orthonormal random Q, the same on every rank (seeded by the bucket).
    func reset() {
        error.initialize(repeating: 0)
        var generator = RandomGenerator(seed: 0x5057_5347, stream: seed)
        for i in 0..<q.count { q[i] = Float(generator.normalPair().0) }
        for m in factorized { Self.orthonormalizeColumns(q.baseAddress! + m.qOffset, rows: m.columns, columns: rank) }
    }

    /// Adds the error to the bucket's local gradient, computes P and starts the first all-reduce.
    func start(_ bucket: UnsafeMutableBufferPointer<Float>, communicator: Communicator) -> PendingCollective {
        let e = error.baseAddress!, g = bucket.baseAddress!
        for i in 0..<error.count { e[i] += g[i] }
        var at = 0
        for range in plain {
            (first.baseAddress! + at).update(from: e + range.offset, count: range.count)
            at += range.count
        }
        ComputePrecision.with(.fp32) {
            for m in factorized {  // P = M·Q̂
                // The warm-started Q is last step's Mᵀ·P̂, whose columns scale with M's singular
                // values: without this (PyTorch's hook does it too) P = M·Q would square M's
                // condition and its orthonormalisation would lose the smaller directions.
                Self.orthonormalizeColumns(q.baseAddress! + m.qOffset, rows: m.columns, columns: rank)
                BLAS.sgemm(m: m.rows, n: rank, k: m.columns, a: e + m.offset, lda: m.columns,
                           b: q.baseAddress! + m.qOffset, ldb: rank, c: first.baseAddress! + m.pOffset, ldc: rank)
            }
        }
        return communicator.startAllReduceSum(first)
    }

    /// After the first all-reduce: orthonormalises each summed P and starts the all-reduce of Q = Mᵀ·P.
    func exchangeQ(communicator: Communicator) -> PendingCollective {
        let e = error.baseAddress!
        ComputePrecision.with(.fp32) {
            for m in factorized {
                let p = first.baseAddress! + m.pOffset
                Self.orthonormalizeColumns(p, rows: m.rows, columns: rank)
                BLAS.sgemm(transA: true, m: m.columns, n: rank, k: m.rows, a: e + m.offset, lda: m.columns,
                           b: p, ldb: rank, c: q.baseAddress! + m.qOffset, ldc: rank)
            }
        }
        return communicator.startAllReduceSum(q)
    }

    /// After the second all-reduce: the bucket gets the sum over ranks (the plain sums, and P·Qᵀ
    /// for factorised matrices); the error becomes what this rank's compensated gradient has beyond
    /// the average approximation. Non-finite values (a NaN gradient on some rank) reset the state.
    func finish(into bucket: UnsafeMutableBufferPointer<Float>, worldSize: Int) {
        let e = error.baseAddress!, g = bucket.baseAddress!
        var at = 0
        for range in plain {
            (g + range.offset).update(from: first.baseAddress! + at, count: range.count)
            (e + range.offset).update(repeating: 0, count: range.count)
            at += range.count
        }
        let share = 1 / Float(worldSize)
        var finite = true
        ComputePrecision.with(.fp32) {
            for m in factorized {  // Σ-approximation = P·Qᵀ (Q summed over ranks)
                BLAS.sgemm(transB: true, m: m.rows, n: m.columns, k: rank, a: first.baseAddress! + m.pOffset, lda: rank,
                           b: q.baseAddress! + m.qOffset, ldb: rank, c: g + m.offset, ldc: m.columns)
                for i in m.offset..<(m.offset + m.rows * m.columns) {
                    e[i] -= g[i] * share
                    if !e[i].isFinite { finite = false }
                }
            }
        }
        if !finite { reset() }
    }

    /// Orthonormal columns of a row-major `rows × columns` matrix spanning what its columns span,
    /// as a QR factorisation's Q (PyTorch's hook takes `torch.linalg.qr`'s). Gram–Schmidt with
    /// each column projected out twice ("twice is enough", Giraud et al. 2005), so the columns
    /// are orthogonal to float precision even when nearly dependent: one pass leaves errors that
    /// grow with the condition number, and P·Qᵀ from columns that are not orthogonal enlarges the
    /// gradient instead of projecting it. A column with nothing of its own left (zero, or within
    /// rounding of the earlier ones) becomes the first unit vector orthogonal to them, as
    /// Householder QR always completes the basis: a zero column would stay zero in every later
    /// power iteration and lose that rank for the rest of the run. Same input, same output on
    /// every rank.
    static func orthonormalizeColumns(_ a: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        precondition(columns <= rows, "PowerSGD: more columns than rows")
        for j in 0..<columns {
            let original = squaredNorm(a, column: j, rows: rows, columns: columns)
            projectOutEarlierColumns(a, column: j, rows: rows, columns: columns)
            var norm = squaredNorm(a, column: j, rows: rows, columns: columns)
            if norm == 0 || norm <= original * 1e-12 {
                // Some unit vector keeps at least (rows − j) / rows of itself: take the first that keeps half of that.
                for k in 0..<rows {
                    for i in 0..<rows { a[i * columns + j] = i == k ? 1 : 0 }
                    projectOutEarlierColumns(a, column: j, rows: rows, columns: columns)
                    norm = squaredNorm(a, column: j, rows: rows, columns: columns)
                    if norm * Double(rows) >= 0.5 { break }
                }
            }
            let inverse = 1 / norm.squareRoot()
            for i in 0..<rows { a[i * columns + j] = Float(Double(a[i * columns + j]) * inverse) }
        }
    }

    private static func squaredNorm(_ a: UnsafeMutablePointer<Float>, column j: Int, rows: Int, columns: Int) -> Double {
        var sum = 0.0
        for i in 0..<rows { sum += Double(a[i * columns + j]) * Double(a[i * columns + j]) }
        return sum
    }

    /// Removes from column `j` its components along columns 0..<j (assumed orthonormal), twice.
    private static func projectOutEarlierColumns(_ a: UnsafeMutablePointer<Float>, column j: Int, rows: Int, columns: Int) {
        for _ in 0..<2 {
            for earlier in 0..<j {
                var dot = 0.0
                for i in 0..<rows { dot += Double(a[i * columns + j]) * Double(a[i * columns + earlier]) }
                for i in 0..<rows { a[i * columns + j] = Float(Double(a[i * columns + j]) - dot * Double(a[i * columns + earlier])) }
            }
        }
    }
}
