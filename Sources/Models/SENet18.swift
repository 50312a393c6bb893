import Autograd
import NN

/// The CIFAR SENet-18: BasicBlocks whose squeeze-and-excitation is two 1x1 convs with bias
/// (`fc1`, `fc2`), shortcut `shortcut.0`/`shortcut.1`, stages [2, 2, 2, 2], global average
/// pool, `linear` head.
public final class SENet18: Module, Layer {
    final class Block: Module, Layer {
        let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
        let shortcut: Sequential?
        let fc1: Conv2d, fc2: Conv2d

        init(inPlanes: Int, planes: Int, stride: Int) {
            conv1 = Conv2d(inPlanes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
            bn1 = BatchNorm2d(planes)
            conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
            bn2 = BatchNorm2d(planes)
            shortcut = stride != 1 || inPlanes != planes
                ? Sequential(Conv2d(inPlanes, planes, kernelSize: 1, stride: stride, bias: false), BatchNorm2d(planes))
                : nil
            fc1 = Conv2d(planes, planes / 16, kernelSize: 1)
            fc2 = Conv2d(planes / 16, planes, kernelSize: 1)
            super.init()
            registerModule("conv1", conv1); registerModule("bn1", bn1)
            registerModule("conv2", conv2); registerModule("bn2", bn2)
            if let shortcut { registerModule("shortcut", shortcut) }
            registerModule("fc1", fc1); registerModule("fc2", fc2)
        }

        func callAsFunction(_ x: Tensor) -> Tensor {
            var out = bn1(conv1(x), relu: true)
            out = bn2(conv2(out))
            let w = sigmoid(fc2(relu(fc1(globalAvgPool2d(out)))))
            out = out * w
            return addReLU(out, shortcut?(x) ?? x)
        }
    }

    let conv1: Conv2d, bn1: BatchNorm2d
    let stages: [Sequential]
    let linear: Linear

    public init(numClasses: Int = 10, inChannels: Int = 3) {
        conv1 = Conv2d(inChannels, 64, kernelSize: 3, padding: 1, bias: false)
        bn1 = BatchNorm2d(64)
        var inPlanes = 64
        var stages: [Sequential] = []
        for (planes, stride) in [(64, 1), (128, 2), (256, 2), (512, 2)] {
            let first = Block(inPlanes: inPlanes, planes: planes, stride: stride)
            let second = Block(inPlanes: planes, planes: planes, stride: 1)
            stages.append(Sequential(first, second))
            inPlanes = planes
        }
        self.stages = stages
        linear = Linear(512, numClasses)
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        for (i, stage) in stages.enumerated() { registerModule("layer\(i + 1)", stage) }
        registerModule("linear", linear)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var out = bn1(conv1(x), relu: true)
        for stage in stages { out = stage(out) }
        return linear(globalAvgPool2d(out).flattened(from: 1))
    }
}
