/// What an operation computes, with the settings another runtime needs to compute it again.
/// Every operation records itself under one of these; the name is what the profiler and the
/// graph show, the settings are what an exporter (ONNX) reads from a trace.
public enum OpKind {
    case conv2d(stride: Int, padding: Int)
    case convTranspose2d(stride: Int, padding: Int, outputPadding: Int)
    /// Inputs x, weight?, bias?; the running statistics are the buffers eval mode normalises with.
    case batchNorm(training: Bool, eps: Double, relu: Bool, runningMean: Tensor?, runningVar: Tensor?,
                   hasWeight: Bool, hasBias: Bool)
    case relu, sigmoid, gelu, addReLU
    case add, subtract, multiply, divide
    case scale(Float)
    case sum
    case linear
    case layerNorm(eps: Float)
    case selfAttention(heads: Int)
    case maxPool2d(kernel: Int, stride: Int, padding: Int)
    case avgPool2d(kernel: Int, stride: Int, padding: Int)
    case globalAvgPool2d
    case reshape([Int])
    case permute([Int])
    case expand([Int])
    case concat(axis: Int)
    case narrow(axis: Int, start: Int, length: Int)
    /// Bilinear with `align_corners=True` to the output's height and width.
    case upsampleBilinear
    case softmax
    case crossEntropy

    public var name: String {
        switch self {
        case .conv2d: "conv2d"
        case .convTranspose2d: "conv_transpose2d"
        case .batchNorm(_, _, let relu, _, _, _, _): relu ? "batch_norm_relu" : "batch_norm"
        case .relu: "relu"
        case .sigmoid: "sigmoid"
        case .gelu: "gelu"
        case .addReLU: "add_relu"
        case .add: "add"
        case .subtract: "sub"
        case .multiply: "mul"
        case .divide: "div"
        case .scale: "mul_scalar"
        case .sum: "sum"
        case .linear: "linear"
        case .layerNorm: "layer_norm"
        case .selfAttention: "attention"
        case .maxPool2d: "max_pool2d"
        case .avgPool2d: "avg_pool2d"
        case .globalAvgPool2d: "adaptive_avg_pool2d"
        case .reshape: "reshape"
        case .permute: "permute"
        case .expand: "expand"
        case .concat: "cat"
        case .narrow: "narrow"
        case .upsampleBilinear: "upsample_bilinear2d"
        case .softmax: "softmax"
        case .crossEntropy: "cross_entropy"
        }
    }
}

/// Records the operations a forward pass runs, in order, with their settings, inputs and
/// output, so that an exporter can write the same computation as a graph (tracing, as
/// `torch.onnx.export` does). Costs one check per operation when no trace is running.
public enum Tracer {
    public struct Node {
        public let op: OpKind
        public let inputs: [Tensor]
        public let output: Tensor
    }

    nonisolated(unsafe) private static var nodes: [Node]?

    @inline(__always)
    static func add(_ op: OpKind, inputs: [Tensor], output: Tensor) {
        if nodes != nil { nodes!.append(Node(op: op, inputs: inputs, output: output)) }
    }

    /// Runs `body` and returns the operations it ran. The nodes hold every tensor that
    /// flowed, so identities stay unique while the trace is read.
    public static func trace(_ body: () throws -> Tensor) rethrows -> (nodes: [Node], output: Tensor) {
        let outer = nodes
        nodes = []
        defer { nodes = outer }
        let output = try body()
        return (nodes ?? [], output)
    }

    /// Runs `body` without recording: for an operation built from others that records itself as one.
    static func untraced<T>(_ body: () -> T) -> T {
        let outer = nodes
        nodes = nil
        defer { nodes = outer }
        return body()
    }
}
