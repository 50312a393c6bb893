/// How a tensor's values sit in its memory.
///
/// `plain` is the engine's default everywhere: dense row-major float32. `blocked` is oneDNN's
/// `nChw16c` for a 4-D tensor whose channels are a multiple of 16 (N, C/16, H, W, 16: sixteen
/// channels of one pixel side by side), in float32 or bf16. Under bf16-mixed with oneDNN, the
/// activations between convolutions, batch norms, ReLUs and residual adds stay blocked bf16, so
/// oneDNN's convolutions read and write them without reorders and the memory-bound operations
/// move half the bytes (PyTorch's CPU autocast keeps bf16 activations too). Blocked float32 is
/// the same code path with another element type, which tests run on every CPU.
public enum TensorFormat: Hashable, Sendable, CustomStringConvertible {
    case plain
    case blocked(OneDNN.Element)

    /// Channels of one block.
    public static let blockChannels = 16

    /// Whether a tensor of `shape` can be held in this format.
    public func holds(_ shape: [Int]) -> Bool {
        switch self {
        case .plain: return true
        case .blocked: return shape.count == 4 && shape[1] % TensorFormat.blockChannels == 0
        }
    }

    /// Floats of storage `count` elements take.
    public func storageFloats(_ count: Int) -> Int {
        switch self {
        case .plain, .blocked(.f32): return count
        case .blocked(.bf16): return (count + 1) / 2
        }
    }

    public var element: OneDNN.Element {
        switch self {
        case .plain: return .f32
        case .blocked(let element): return element
        }
    }

    public var description: String {
        switch self {
        case .plain: return "float32"
        case .blocked(.f32): return "float32 nChw16c"
        case .blocked(.bf16): return "bf16 nChw16c"
        }
    }
}

/// The format convolutions write their outputs in, and so the one the memory-bound layers
/// after them keep: blocked bf16 under bf16-mixed with oneDNN, plain float32 otherwise.
public enum ActivationFormat {
    nonisolated(unsafe) private static var override: TensorFormat?

    public static var current: TensorFormat {
        if let override { return override }
        return ComputePrecision.current == .bf16 && blockedBF16IsUsable ? .blocked(.bf16) : .plain
    }

    /// bf16-mixed keeps its activations blocked where oneDNN is its backend and the blocked path
    /// passes its own start-up check (`OneDNNConvolution.passesBlockedSelfCheck`); otherwise
    /// they stay plain float32, as on the emulated path.
    public static let blockedBF16IsUsable = BF16GEMM.backend == .oneDNN && OneDNNConvolution.passesBlockedSelfCheck(.bf16)

    /// Runs `body` with activations in `format` (tests run the blocked path in float32 on any CPU).
    public static func with<T>(_ format: TensorFormat, _ body: () throws -> T) rethrows -> T {
        let saved = override
        override = format
        defer { override = saved }
        return try body()
    }
}
