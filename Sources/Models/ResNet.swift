import Autograd
import NN

/// torchvision's ResNet, driven by one table for every depth, with the SE variant and a
/// CIFAR stem for small images.
public final class ResNet: Module, Layer {
    public enum Stem: String, Sendable, CaseIterable, Codable {
        /// 7x7 stride-2 conv + 3x3 stride-2 max pool.
        case imagenet
        /// 3x3 stride-1 conv, no max pool.
        case cifar
    }

    public struct Options: Sendable, Equatable {
        public var numClasses = 1000
        public var inChannels = 3
        public var stem = Stem.imagenet
        public var zeroInitResidual = false
        public var squeezeExcitation = false
        public init(numClasses: Int = 1000, inChannels: Int = 3, stem: Stem = .imagenet, zeroInitResidual: Bool = false,
                    squeezeExcitation: Bool = false) {
            self.numClasses = numClasses; self.inChannels = inChannels; self.stem = stem
            self.zeroInitResidual = zeroInitResidual; self.squeezeExcitation = squeezeExcitation
        }
    }

    /// Block kind and blocks per stage for each depth.
    public static let depths: [Int: (bottleneck: Bool, layers: [Int])] = [
        18: (false, [2, 2, 2, 2]), 34: (false, [3, 4, 6, 3]),
        50: (true, [3, 4, 6, 3]), 101: (true, [3, 4, 23, 3]), 152: (true, [3, 8, 36, 3]),
    ]

    let conv1: Conv2d, bn1: BatchNorm2d
    let maxPool: MaxPool2d?
    let stages: [Sequential]
    let fc: Linear

    /// `depth` is one of `ResNet.depths`' keys.
    public init(depth: Int, options: Options = Options()) {
        guard let config = Self.depths[depth] else {
            preconditionFailure("ResNet: no depth \(depth); choose one of \(Self.depths.keys.sorted())")
        }
        switch options.stem {
        case .imagenet:
            conv1 = Conv2d(options.inChannels, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
            maxPool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
        case .cifar:
            conv1 = Conv2d(options.inChannels, 64, kernelSize: 3, stride: 1, padding: 1, bias: false)
            maxPool = nil
        }
        bn1 = BatchNorm2d(64)
        let block: any ResidualBlock.Type = config.bottleneck ? Bottleneck.self : BasicBlock.self
        var inPlanes = 64
        var stages: [Sequential] = []
        for (index, (planes, count)) in zip([64, 128, 256, 512], config.layers).enumerated() {
            let stride = index == 0 ? 1 : 2
            var blocks: [LayerModule] = []
            for i in 0..<count {
                let s = i == 0 ? stride : 1
                var downsample: Sequential? = nil
                if i == 0 && (s != 1 || inPlanes != planes * block.expansion) {
                    downsample = Sequential(
                        Conv2d(inPlanes, planes * block.expansion, kernelSize: 1, stride: s, bias: false),
                        BatchNorm2d(planes * block.expansion))
                }
                let b = block.init(inPlanes: inPlanes, planes: planes, stride: s, downsample: downsample,
                                   squeezeExcitation: options.squeezeExcitation)
                if options.zeroInitResidual { b.lastBatchNorm.weight.pointer.update(repeating: 0, count: b.lastBatchNorm.channels) }
                blocks.append(b)
                inPlanes = planes * block.expansion
            }
            stages.append(Sequential(blocks))
        }
        self.stages = stages
        fc = Linear(512 * block.expansion, options.numClasses)
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        for (i, stage) in stages.enumerated() { registerModule("layer\(i + 1)", stage) }
        registerModule("fc", fc)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        // max_pool(relu(v)) = relu(max_pool(v)), values and gradients alike (ReLU is monotonic and
        // max_pool's padding is −∞): pooling first runs the ReLU on a quarter of the values and
        // saves only the pooled activation for backward (51 MiB less for ResNet-50 at batch 16).
        var out: Tensor
        if let maxPool {
            out = relu(maxPool(bn1(conv1(x))))
        } else {
            out = bn1(conv1(x), relu: true)
        }
        for stage in stages { out = stage(out) }
        return fc(globalAvgPool2d(out).flattened(from: 1))
    }
}
