import Autograd
import NN

/// UNet (Ronneberger et al., with a `featureScale` to narrow it): an encoder of double 3x3 conv (+ BN) + ReLU blocks and 2x2 max
/// pools, filters [64, 128, 256, 512, 1024] / `featureScale`, and a decoder that upsamples
/// (bilinear with `align_corners=True` then a 1x1 conv, or a 2x2 stride-2 transposed conv),
/// concatenates the skip connection and applies a double 3x3 conv without BN; a final 1x1
/// conv gives per-pixel class scores. Height and width must be multiples of 16.
public final class UNet: Module, Layer {
    public struct Options: Sendable, Equatable {
        public var inChannels = 3
        public var numClasses = 2
        public var featureScale = 2
        public var isDeconv = false
        public var isBatchNorm = true
        public init(inChannels: Int = 3, numClasses: Int = 2, featureScale: Int = 2, isDeconv: Bool = false,
                    isBatchNorm: Bool = true) {
            self.inChannels = inChannels; self.numClasses = numClasses; self.featureScale = featureScale
            self.isDeconv = isDeconv; self.isBatchNorm = isBatchNorm
        }
    }

    /// Two (conv 3x3 → [BN] → ReLU) stages, keys `conv1.0`, `conv1.1`, `conv2.0`, `conv2.1`.
    final class DoubleConv: Module, Layer {
        let conv1: Sequential, conv2: Sequential
        init(_ inChannels: Int, _ outChannels: Int, batchNorm: Bool) {
            func stage(_ c: Int) -> Sequential {
                let conv = Conv2d(c, outChannels, kernelSize: 3, padding: 1)
                return batchNorm ? Sequential(conv, UNet.batchNorm(outChannels), ReLU()) : Sequential(conv, ReLU())
            }
            conv1 = stage(inChannels)
            conv2 = stage(outChannels)
            super.init()
            registerModule("conv1", conv1)
            registerModule("conv2", conv2)
        }
        func callAsFunction(_ x: Tensor) -> Tensor { conv2(conv1(x)) }
    }

    /// Upsample `high`, concatenate `skip`, double conv; keys `up` and `conv`.
    final class Up: Module {
        let up: LayerModule, conv: DoubleConv
        init(_ inChannels: Int, _ outChannels: Int, deconv: Bool) {
            conv = DoubleConv(inChannels, outChannels, batchNorm: false)
            up = deconv
                ? ConvTranspose2d(inChannels, outChannels, kernelSize: 2, stride: 2)
                : Sequential(UpsamplingBilinear2d(scale: 2), Conv2d(inChannels, outChannels, kernelSize: 1))
            super.init()
            registerModule("conv", conv)
            registerModule("up", up)
        }
        func callAsFunction(_ high: Tensor, _ skip: Tensor) -> Tensor { conv(cat([up(high), skip], dim: 1)) }
    }

    /// The notes initialise BN weights from N(1, 0.02) and biases to 0.
    static func batchNorm(_ channels: Int) -> BatchNorm2d {
        let bn = BatchNorm2d(channels)
        bn.weight.copyValues(from: Initializers.normal([channels], std: 0.02) + Tensor(filling: [channels], with: 1))
        return bn
    }

    let encoder: [DoubleConv]
    let ups: [Up]
    let final: Conv2d

    public init(options: Options = Options()) {
        precondition(options.featureScale > 0 && 64 % options.featureScale == 0,
                     "UNet: feature_scale \(options.featureScale) must divide 64")
        let filters = [64, 128, 256, 512, 1024].map { $0 / options.featureScale }
        var encoder: [DoubleConv] = []
        var inChannels = options.inChannels
        for f in filters {
            encoder.append(DoubleConv(inChannels, f, batchNorm: options.isBatchNorm))
            inChannels = f
        }
        self.encoder = encoder
        ups = (1...4).reversed().map { Up(filters[$0], filters[$0 - 1], deconv: options.isDeconv) }
        final = Conv2d(filters[0], options.numClasses, kernelSize: 1)
        super.init()
        for (i, block) in encoder.enumerated() { registerModule(i < 4 ? "conv\(i + 1)" : "center", block) }
        for (i, up) in zip([4, 3, 2, 1], ups) { registerModule("up_concat\(i)", up) }
        registerModule("final", final)
        // Kaiming normal (fan_in) for every conv, as the notes' init_weights does.
        for (name, p) in namedParameters() where p.rank == 4 && name.hasSuffix("weight") {
            p.copyValues(from: Initializers.kaimingNormalFanIn(p.shape))
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[2] % 16 == 0 && x.shape[3] % 16 == 0,
                     "UNet: input \(x.shape) needs height and width divisible by 16")
        var skips: [Tensor] = []
        var out = x
        for (i, block) in encoder.enumerated() {
            out = block(out)
            if i < 4 {
                skips.append(out)
                out = maxPool2d(out, kernel: 2)
            }
        }
        for (up, skip) in zip(ups, skips.reversed()) { out = up(out, skip) }
        return final(out)
    }
}
