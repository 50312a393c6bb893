import Autograd
import NN

/// torchvision's residual blocks, optionally with squeeze-and-excitation on the branch
/// (after its last BN, before the addition).
public protocol ResidualBlock: LayerModule {
    static var expansion: Int { get }
    init(inPlanes: Int, planes: Int, stride: Int, downsample: Sequential?, squeezeExcitation: Bool)
    /// The BN that ends the branch (zeroed by `zero_init_residual`).
    var lastBatchNorm: BatchNorm2d { get }
}

/// Two 3x3 convs (ResNet-18/34).
public final class BasicBlock: Module, ResidualBlock {
    public static let expansion = 1
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let se: SqueezeExcitation?
    let downsample: Sequential?

    public init(inPlanes: Int, planes: Int, stride: Int, downsample: Sequential?, squeezeExcitation: Bool) {
        conv1 = Conv2d(inPlanes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        se = squeezeExcitation ? SqueezeExcitation(channels: planes) : nil
        self.downsample = downsample
        super.init()
        registerModule("conv1", conv1); registerModule("bn1", bn1)
        registerModule("conv2", conv2); registerModule("bn2", bn2)
        if let se { registerModule("se", se) }
        if let downsample { registerModule("downsample", downsample) }
    }

    public var lastBatchNorm: BatchNorm2d { bn2 }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var out = bn1(conv1(x), relu: true)
        out = bn2(conv2(out))
        if let se { out = se(out) }
        return addReLU(out, downsample?(x) ?? x)
    }
}

/// 1x1 → 3x3 (carrying the stride, as torchvision does) → 1x1 with 4x expansion (ResNet-50+).
public final class Bottleneck: Module, ResidualBlock {
    public static let expansion = 4
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    let se: SqueezeExcitation?
    let downsample: Sequential?

    public init(inPlanes: Int, planes: Int, stride: Int, downsample: Sequential?, squeezeExcitation: Bool) {
        conv1 = Conv2d(inPlanes, planes, kernelSize: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        conv3 = Conv2d(planes, planes * Self.expansion, kernelSize: 1, bias: false)
        bn3 = BatchNorm2d(planes * Self.expansion)
        se = squeezeExcitation ? SqueezeExcitation(channels: planes * Self.expansion) : nil
        self.downsample = downsample
        super.init()
        registerModule("conv1", conv1); registerModule("bn1", bn1)
        registerModule("conv2", conv2); registerModule("bn2", bn2)
        registerModule("conv3", conv3); registerModule("bn3", bn3)
        if let se { registerModule("se", se) }
        if let downsample { registerModule("downsample", downsample) }
    }

    public var lastBatchNorm: BatchNorm2d { bn3 }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var out = bn1(conv1(x), relu: true)
        out = bn2(conv2(out), relu: true)
        out = bn3(conv3(out))
        if let se { out = se(out) }
        return addReLU(out, downsample?(x) ?? x)
    }
}
