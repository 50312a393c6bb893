import Autograd

/// `nn.ConvTranspose2d` (groups 1); weight `[in, out, k, k]`, Kaiming-normal initialised.
public final class ConvTranspose2d: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int, outputPadding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, bias: Bool = true) {
        let shape = [inChannels, outChannels, kernelSize, kernelSize]
        // PyTorch takes a transposed conv's fan_in from dim 1 of its weight: out · k · k.
        self.weight = Initializers.kaimingNormalFanIn(shape)
        self.bias = bias ? Initializers.defaultBias(outChannels, fanIn: outChannels * kernelSize * kernelSize) : nil
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        convTranspose2d(x, weight: weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding)
    }
}
