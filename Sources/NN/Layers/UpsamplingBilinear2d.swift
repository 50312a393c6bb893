import Autograd

/// `nn.UpsamplingBilinear2d(scale_factor=scale)` (`align_corners=True`).
public final class UpsamplingBilinear2d: Module, Layer {
    public let scale: Int
    public init(scale: Int = 2) { self.scale = scale; super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { upsampleBilinear(x, scale: scale) }
}
