import Autograd

/// `nn.Sequential`: children named "0", "1", ... applied in order.
public final class Sequential: Module, Layer {
    public let layers: [LayerModule]

    public init(_ layers: [LayerModule]) {
        self.layers = layers
        super.init()
        for (i, layer) in layers.enumerated() { registerModule(String(i), layer) }
    }

    public convenience init(_ layers: LayerModule...) { self.init(layers) }

    /// Applies the layers in order; a `BatchNorm2d` followed by a `ReLU` runs as one fused pass
    /// (the same values and gradients).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var out = x, i = 0
        while i < layers.count {
            if let bn = layers[i] as? BatchNorm2d, i + 1 < layers.count, layers[i + 1] is ReLU {
                out = bn(out, relu: true)
                i += 2
            } else {
                out = layers[i](out)
                i += 1
            }
        }
        return out
    }
}
