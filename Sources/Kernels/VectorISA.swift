import CBlockedAVX512

/// Which build of the bf16 passes over blocked tensors runs (batch norm, the residual add and
/// ReLU's backward; `BlockedBatchNormKernel`, `BlockedElementwiseKernel`). Our Swift compiles for
/// every x86-64, where converting bf16 costs several instructions per value; on a CPU with
/// AVX-512 the C builds in `CBlockedAVX512` run the same operations in the same order, one
/// instruction per sixteen values, and give the same bits (`BlockedAVX512Tests`).
public enum VectorISA: Sendable, Equatable {
    /// The Swift passes, on every CPU.
    case portable
    /// The AVX-512F builds.
    case avx512

    /// The best this CPU can run.
    public static let detected: VectorISA = ddp_avx512_usable() != 0 ? .avx512 : .portable

    nonisolated(unsafe) private static var chosen = detected
    /// What the passes use: `detected` unless a test or benchmark chose `.portable`.
    public static var current: VectorISA { chosen }

    /// Runs `body` with the passes on `isa`, which must be `.portable` or `detected`.
    public static func with<T>(_ isa: VectorISA, _ body: () throws -> T) rethrows -> T {
        precondition(isa == .portable || isa == detected, "this CPU cannot run \(isa)")
        let saved = chosen
        chosen = isa
        defer { chosen = saved }
        return try body()
    }
}
