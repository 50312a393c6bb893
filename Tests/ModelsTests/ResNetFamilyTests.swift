import Autograd
import Models
import NN
import XCTest

final class ResNetFamilyTests: XCTestCase {
    /// torchvision's parameter counts (3 channels, 1000 classes), with and without SE.
    func testParameterCounts() {
        let expected: [(Int, Int, Int)] = [
            (18, 11_689_512, 11_776_552), (34, 21_797_672, 21_954_856), (50, 25_557_032, 28_071_976),
            (101, 44_549_160, 49_292_328), (152, 60_192_808, 66_770_984),
        ]
        for (depth, plain, se) in expected {
            XCTAssertEqual(ResNet(depth: depth).parameterCount, plain, "resnet\(depth)")
            XCTAssertEqual(ResNet(depth: depth, options: .init(squeezeExcitation: true)).parameterCount, se, "se_resnet\(depth)")
        }
    }

    func testBottleneckKeysAndStrideOnThe3x3() {
        let model = ResNet(depth: 50, options: .init(numClasses: 10, stem: .cifar))
        let names = model.stateDict().map(\.name)
        XCTAssertTrue(names.contains("layer2.0.downsample.0.weight"))
        XCTAssertTrue(names.contains("layer4.2.bn3.num_batches_tracked"))
        let y = withNoGrad { () -> Tensor in
            model.eval()
            return model(Tensor(zeros: [1, 3, 32, 32]))
        }
        XCTAssertEqual(y.shape, [1, 10])
        // torchvision's v1.5: the stride sits on the bottleneck's 3x3 conv, not its first 1x1.
        let convs = Dictionary(uniqueKeysWithValues: model.namedModules().compactMap { name, module in
            (module as? Conv2d).map { (name, $0) }
        })
        for layer in ["layer2", "layer3", "layer4"] {
            XCTAssertEqual(convs["\(layer).0.conv1"]?.stride, 1, "\(layer).0.conv1")
            XCTAssertEqual(convs["\(layer).0.conv2"]?.stride, 2, "\(layer).0.conv2")
            XCTAssertEqual(convs["\(layer).0.conv3"]?.stride, 1, "\(layer).0.conv3")
            XCTAssertEqual(convs["\(layer).0.downsample.0"]?.stride, 2, "\(layer).0.downsample.0")
            XCTAssertEqual(convs["\(layer).1.conv2"]?.stride, 1, "\(layer).1.conv2")
        }
        let se = ResNet(depth: 18, options: .init(squeezeExcitation: true))
        XCTAssertTrue(se.stateDict().map(\.name).contains("layer1.0.se.fc.0.weight"))
        XCTAssertTrue(se.stateDict().map(\.name).contains("layer1.0.se.fc.2.weight"))
    }

    func testZeroInitResidual() {
        let model = ResNet(depth: 18, options: .init(zeroInitResidual: true))
        let bn2 = model.stateDict().first { $0.name == "layer1.0.bn2.weight" }!.tensor
        XCTAssertTrue(bn2.toArray().allSatisfy { $0 == 0 })
    }
}
