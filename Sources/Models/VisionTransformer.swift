import Autograd
import NN

/// torchvision's `VisionTransformer` with its parameter names, so that its weights load both
/// ways: `class_token`, `conv_proj`, `encoder.pos_embedding`,
/// `encoder.layers.encoder_layer_N.{ln_1, self_attention, ln_2, mlp.0, mlp.3}`, `encoder.ln`,
/// `heads.head`. Dropout is 0 (torchvision's default).
public final class VisionTransformer: Module, Layer {
    public struct Options: Sendable, Equatable {
        public var imageSize = 28, patchSize = 4, numLayers = 6, numHeads = 4, hiddenDim = 192, mlpDim = 768
        public var numClasses = 10, inChannels = 3
        public init(imageSize: Int = 28, patchSize: Int = 4, numLayers: Int = 6, numHeads: Int = 4, hiddenDim: Int = 192,
                    mlpDim: Int = 768, numClasses: Int = 10, inChannels: Int = 3) {
            self.imageSize = imageSize; self.patchSize = patchSize; self.numLayers = numLayers; self.numHeads = numHeads
            self.hiddenDim = hiddenDim; self.mlpDim = mlpDim; self.numClasses = numClasses; self.inChannels = inChannels
        }
        public var sequenceLength: Int { (imageSize / patchSize) * (imageSize / patchSize) + 1 }
    }

    /// Pre-norm transformer block.
    final class EncoderBlock: Module, Layer {
        let ln1: LayerNorm, attention: MultiheadAttention, ln2: LayerNorm, mlp: Sequential
        init(_ o: Options) {
            ln1 = LayerNorm(o.hiddenDim, eps: 1e-6)
            attention = MultiheadAttention(embed: o.hiddenDim, heads: o.numHeads)
            ln2 = LayerNorm(o.hiddenDim, eps: 1e-6)
            let fc1 = Linear(o.hiddenDim, o.mlpDim), fc2 = Linear(o.mlpDim, o.hiddenDim)
            // torchvision's MLPBlock: xavier-uniform weights, N(0, 1e-6) biases.
            for fc in [fc1, fc2] {
                let (outF, inF) = (fc.weight.shape[0], fc.weight.shape[1])
                fc.weight.copyValues(from: Initializers.uniform(fc.weight.shape, bound: (6 / Double(inF + outF)).squareRoot()))
                fc.bias!.copyValues(from: Initializers.normal([outF], std: 1e-6))
            }
            // Indices as in torchvision: 0 Linear, 1 GELU, 2 Dropout, 3 Linear, 4 Dropout.
            mlp = Sequential(fc1, GELU(), Identity(), fc2, Identity())
            super.init()
            registerModule("ln_1", ln1)
            registerModule("self_attention", attention)
            registerModule("ln_2", ln2)
            registerModule("mlp", mlp)
        }
        func callAsFunction(_ x: Tensor) -> Tensor {
            let h = x + attention(ln1(x))
            return h + mlp(ln2(h))
        }
    }

    /// `encoder`: position embedding, the blocks under `layers`, the final `ln`.
    final class Encoder: Module, Layer {
        let posEmbedding: Tensor
        let layers: Module
        let blocks: [EncoderBlock]
        let ln: LayerNorm
        init(_ o: Options) {
            posEmbedding = Initializers.normal([1, o.sequenceLength, o.hiddenDim], std: 0.02)
            blocks = (0..<o.numLayers).map { _ in EncoderBlock(o) }
            layers = Module()
            ln = LayerNorm(o.hiddenDim, eps: 1e-6)
            super.init()
            registerParameter("pos_embedding", posEmbedding)
            for (i, block) in blocks.enumerated() { layers.registerModule("encoder_layer_\(i)", block) }
            registerModule("layers", layers)
            registerModule("ln", ln)
        }
        func callAsFunction(_ x: Tensor) -> Tensor { ln(blocks.reduce(x + posEmbedding) { $1($0) }) }
    }

    public let options: Options
    let classToken: Tensor
    let convProj: Conv2d
    let encoder: Encoder
    let heads: Module
    let head: Linear

    public init(options: Options = Options()) {
        precondition(options.imageSize % options.patchSize == 0,
                     "VisionTransformer: image size \(options.imageSize) is not a multiple of patch size \(options.patchSize)")
        precondition(options.hiddenDim % options.numHeads == 0,
                     "VisionTransformer: hidden dim \(options.hiddenDim) is not divisible by \(options.numHeads) heads")
        self.options = options
        classToken = Tensor(zeros: [1, 1, options.hiddenDim])
        convProj = Conv2d(options.inChannels, options.hiddenDim, kernelSize: options.patchSize, stride: options.patchSize)
        // torchvision: truncated normal, std √(1/fan_in), zero bias.
        let fanIn = options.inChannels * options.patchSize * options.patchSize
        convProj.weight.copyValues(from: Initializers.normal(convProj.weight.shape, std: Float((1 / Double(fanIn)).squareRoot())))
        convProj.bias!.copyValues(from: Tensor(zeros: [options.hiddenDim]))
        encoder = Encoder(options)
        head = Linear(options.hiddenDim, options.numClasses)
        // torchvision zeroes the classification head.
        head.weight.copyValues(from: Tensor(zeros: head.weight.shape))
        head.bias!.copyValues(from: Tensor(zeros: [options.numClasses]))
        heads = Module()
        super.init()
        registerParameter("class_token", classToken)
        registerModule("conv_proj", convProj)
        registerModule("encoder", encoder)
        heads.registerModule("head", head)
        registerModule("heads", heads)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[2] == options.imageSize && x.shape[3] == options.imageSize,
                     "VisionTransformer: expected [N, \(options.inChannels), \(options.imageSize), \(options.imageSize)], got \(x.shape)")
        let n = x.shape[0], e = options.hiddenDim
        let patches = convProj(x).reshaped([n, e, -1]).permuted([0, 2, 1])  // [N, L, E]
        let tokens = cat([classToken.expanded(to: [n, 1, e]), patches], dim: 1)
        let encoded = encoder(tokens)
        return head(narrow(encoded, dim: 1, start: 0, length: 1).reshaped([n, e]))
    }
}
