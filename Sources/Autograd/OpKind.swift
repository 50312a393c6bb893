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
