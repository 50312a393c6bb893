import COpenBLAS

/// `C = alpha·op(A)·op(B) + beta·C` with A and B rounded to bf16 and float32 accumulation.
/// On a CPU with bf16 instructions (AVX512-BF16, AMX) oneDNN computes it at their rate
/// (`OneDNNMatmul`); elsewhere the rounded operands go through sgemm, which gives the same
/// numerics (a product of two bf16 values is exact in float32) at float32's speed.
public enum BF16GEMM {
    public enum Backend: String, Sendable {
        case oneDNN = "oneDNN"
        case emulated = "emulated"
    }

    /// The backend this process uses, chosen once.
    /// oneDNN where the CPU has bf16 instructions and its products and convolutions pass the
    /// start-up self-checks (`OneDNNMatmul.isUsable`, `OneDNNConvolution.passesSelfCheck`).
    public static let backend: Backend = OneDNNMatmul.isUsable && OneDNNConvolution.passesSelfCheck(.bf16) ? .oneDNN : .emulated

    /// What the start-up summary and `bench` say about the bf16 products.
    public static var description: String {
        switch backend {
        case .oneDNN: return "bf16 products through oneDNN (\(OneDNNMatmul.isaName)), "
            + (ActivationFormat.blockedBF16IsUsable ? "bf16 activations (nChw16c)" : "float32 activations (the blocked path failed its start-up check)")
        case .emulated: return "bf16 products emulated (this CPU has no bf16 instructions): same numerics as bf16, not faster than fp32"
        }
    }

    /// A strided float32 matrix as dense bf16 rows, over the rank's threads when it is large
    /// (a linear layer's activations; inside another loop's chunk it stays on this thread).
    static func convertRows(_ source: UnsafePointer<Float>, rows: Int, cols: Int, stride: Int, into target: UnsafeMutablePointer<UInt16>) {
        let (s, t) = (UncheckedSendable(source), UncheckedSendable(target))
        Parallel.forRanges(rows, grain: max(1, (1 << 16) / max(cols, 1))) { range in
            for r in range { BFloat16.convert(s.value + r * stride, count: cols, into: t.value + r * cols) }
        }
    }

    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, backend: Backend = backend) {
        // Dense row-major copies: op(A) is stored as rowsA × colsA with stride lda.
        let (rowsA, colsA) = transA ? (k, m) : (m, k)
        let (rowsB, colsB) = transB ? (n, k) : (k, n)
        switch backend {
        case .oneDNN:
            let scratch = ThreadScratch.current().reserve(2 * (rowsA * colsA + rowsB * colsB) + 64)
            let a16 = scratch.bindMemory(to: UInt16.self, capacity: rowsA * colsA + rowsB * colsB)
            let b16 = a16 + rowsA * colsA
            convertRows(a, rows: rowsA, cols: colsA, stride: lda, into: a16)
            convertRows(b, rows: rowsB, cols: colsB, stride: ldb, into: b16)
            if OneDNNMatmul.run(.bf16, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a16, b: b16,
                                beta: beta, c: c, ldc: ldc) { return }
            // A shape oneDNN refused: the emulated product below gives the same numerics.
            fallthrough
        case .emulated:
            let scratch = ThreadScratch.current().reserve(4 * (rowsA * colsA + rowsB * colsB) + 64)
            let a32 = scratch.bindMemory(to: Float.self, capacity: rowsA * colsA + rowsB * colsB)
            let b32 = a32 + rowsA * colsA
            for r in 0..<rowsA { BFloat16.round(a + r * lda, count: colsA, into: a32 + r * colsA) }
            for r in 0..<rowsB { BFloat16.round(b + r * ldb, count: colsB, into: b32 + r * colsB) }
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a32, Int32(colsA), b32, Int32(colsB), beta, c, Int32(ldc))
        }
    }
}
