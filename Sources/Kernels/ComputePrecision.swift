/// What the matrix products of convolutions, linear layers and attention compute in. Every
/// such product goes through `BLAS.sgemm`, so this one switch covers them all; everything
/// else (normalisation, softmax, the loss, optimizer, all-reduce) stays float32.
public enum ComputePrecision: String, Sendable, CaseIterable {
    /// float32 operands.
    case fp32
    /// Operands rounded to bf16, products accumulated in float32 (PyTorch's bf16 autocast for
    /// these ops, with float32 outputs).
    case bf16

    /// The precision of the products; set once at start-up by the trainer, `bench` and `eval`.
    nonisolated(unsafe) public static var current = ComputePrecision.fp32

    /// Runs `body` with `precision`, restoring the previous one (tests).
    public static func with<T>(_ precision: ComputePrecision, _ body: () throws -> T) rethrows -> T {
        let saved = current
        current = precision
        defer { current = saved }
        return try body()
    }
}
