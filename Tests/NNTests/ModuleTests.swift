import Autograd
import NN
import XCTest

final class ModuleTests: XCTestCase {
    final class Block: Module, Layer {
        let conv1 = Conv2d(2, 4, kernelSize: 3, padding: 1, bias: false)
        let bn1 = BatchNorm2d(4)
        let downsample = Sequential(Conv2d(2, 4, kernelSize: 1, bias: false), BatchNorm2d(4))
        override init() {
            super.init()
            registerModule("conv1", conv1); registerModule("bn1", bn1); registerModule("downsample", downsample)
        }
        func callAsFunction(_ x: Tensor) -> Tensor { relu(bn1(conv1(x)) + downsample(x)) }
    }

    /// In a Sequential, a BatchNorm2d followed by a ReLU runs as the fused op, with the values
    /// and gradients of the layers applied one after the other.
    func testSequentialFusesBatchNormAndReLU() {
        let layers: [LayerModule] = [Conv2d(2, 3, kernelSize: 3, padding: 1, bias: false), BatchNorm2d(3), ReLU(),
                                     Conv2d(3, 2, kernelSize: 1)]
        let model = Sequential(layers)
        let data = (0..<100).map { Float(($0 * 37) % 23) / 11 - 1 }
        func run(_ body: (Tensor) -> Tensor) -> [[Float]] {
            for p in model.parameters() { p.zeroGrad() }
            let x = Tensor(shape: [2, 2, 5, 5], data: data)
            x.requiresGrad = true
            let y = body(x)
            (y * y).sum().backward()
            return [y.toArray(), x.grad!.toArray()] + model.parameters().map { $0.grad!.toArray() }
        }
        let wasEnabled = OpProfiler.isEnabled
        defer { OpProfiler.isEnabled = wasEnabled; OpProfiler.reset() }
        OpProfiler.isEnabled = true
        OpProfiler.reset()
        let fused = run { model($0) }
        let ops = Set(OpProfiler.report().map(\.name))
        XCTAssertTrue(ops.contains("batch_norm_relu forward") && !ops.contains("relu forward"), "\(ops)")
        let apart = run { x in layers.reduce(x) { $1($0) } }
        XCTAssertEqual(fused, apart)
    }

    func testStateDictNamesAndOrderMatchPyTorch() {
        let model = Sequential(Block(), Linear(4, 3))
        XCTAssertEqual(model.stateDict().map(\.name), [
            "0.conv1.weight",
            "0.bn1.weight", "0.bn1.bias", "0.bn1.running_mean", "0.bn1.running_var", "0.bn1.num_batches_tracked",
            "0.downsample.0.weight",
            "0.downsample.1.weight", "0.downsample.1.bias", "0.downsample.1.running_mean",
            "0.downsample.1.running_var", "0.downsample.1.num_batches_tracked",
            "1.weight", "1.bias",
        ])
        XCTAssertEqual(model.namedParameters().count, 8)
        XCTAssertEqual(model.namedBuffers().count, 6)
        XCTAssertEqual(model.parameterCount, 4 * 2 * 9 + 4 + 4 + 4 * 2 + 4 + 4 + 4 * 3 + 3)
        XCTAssertTrue(model.parameters().allSatisfy(\.requiresGrad))
    }

    func testTrainAndEvalReachEveryModule() {
        let model = Sequential(Block(), Linear(4, 3))
        model.eval()
        XCTAssertTrue(model.namedModules().allSatisfy { !$0.module.isTraining })
        model.train()
        XCTAssertTrue(model.namedModules().allSatisfy { $0.module.isTraining })
    }

    func testInitialisationFollowsTorchvision() {
        Initializers.manualSeed(1)
        let conv = Conv2d(64, 256, kernelSize: 3, bias: false)
        let values = conv.weight.toArray()
        let mean = values.reduce(0, +) / Float(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)).squareRoot()
        // kaiming_normal_(fan_out, relu): std = sqrt(2 / (256 * 9))
        XCTAssertEqual(std, (2.0 / 2304).squareRoot(), accuracy: 0.02 * (2.0 / 2304).squareRoot())
        let linear = Linear(100, 10)
        XCTAssertTrue(linear.weight.toArray().allSatisfy { abs($0) <= 0.1 })
        XCTAssertTrue(linear.bias!.toArray().allSatisfy { abs($0) <= 0.1 })
        let bn = BatchNorm2d(8)
        XCTAssertEqual(bn.weight.toArray(), Array(repeating: 1, count: 8))
        XCTAssertEqual(bn.bias.toArray(), Array(repeating: 0, count: 8))
        Initializers.manualSeed(1)
        XCTAssertEqual(Conv2d(64, 256, kernelSize: 3, bias: false).weight.toArray(), values, "same seed, same weights")
    }

    func testMultiheadAttentionKeysAreNNMultiheadAttentions() {
        let attention = MultiheadAttention(embed: 8, heads: 2)
        XCTAssertEqual(attention.stateDict().map(\.name), ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])
        XCTAssertEqual(attention(Tensor(zeros: [2, 5, 8])).shape, [2, 5, 8])
    }
}
