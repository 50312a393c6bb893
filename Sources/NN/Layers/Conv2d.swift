import Autograd

/// `nn.Conv2d` (groups 1, dilation 1), Kaiming-normal (fan_out) weights as torchvision inits them.
public final class Conv2d: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0,
                     "Conv2d: invalid configuration in \(inChannels) out \(outChannels) kernel \(kernelSize)")
        let shape = [outChannels, inChannels, kernelSize, kernelSize]
        self.weight = Initializers.kaimingNormalFanOut(shape)
        self.bias = bias ? Initializers.defaultBias(outChannels, fanIn: inChannels * kernelSize * kernelSize) : nil
        self.stride = stride
        self.padding = padding
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}
