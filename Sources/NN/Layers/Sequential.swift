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

    public func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}
