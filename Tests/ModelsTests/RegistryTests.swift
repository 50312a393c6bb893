import Autograd
import Models
import NN
import XCTest

final class RegistryTests: XCTestCase {
    func count(_ name: String, _ options: ModelOptions = ModelOptions()) throws -> Int {
        try ModelRegistry.entry(name).build(options).parameterCount
    }

    /// The table, row by row (ResNet and SE-ResNet depths are in ResNetFamilyTests).
    func testParameterCounts() throws {
        XCTAssertEqual(try count("senet18"), 11_263_042)
        XCTAssertEqual(UNet(options: .init()).parameterCount, 7_241_858)
        XCTAssertEqual(try count("unet"), 7_241_858)
        XCTAssertEqual(UNet(options: .init(isDeconv: true)).parameterCount, 7_764_098)
        XCTAssertEqual(try count("vit_tiny"), 2_690_698)
        XCTAssertEqual(try count("vit_tiny", .init(inChannels: 1)), 2_684_554)
        XCTAssertEqual(try count("resnet18", .init(numClasses: 10, inChannels: 1, stem: .cifar)), 11_172_810)
        XCTAssertEqual(try count("resnet50"), 25_557_032)
        XCTAssertEqual(try count("se_resnet50"), 28_071_976)
    }

    func testEveryModelRunsForwardAndBackwardWithTheRightShapes() throws {
        for entry in ModelRegistry.entries where !["resnet101", "resnet152", "se_resnet101", "se_resnet152"].contains(entry.name) {
            let options = ModelOptions(numClasses: 5, inChannels: 1, stem: .cifar,
                                       imageSize: entry.name == "vit_tiny" ? 28 : 32)
            let model = entry.build(options)
            let x = Tensor(filling: entry.inputShape(batch: 2, options: options), with: 0.5)
            let y = model(x)
            XCTAssertEqual(y.shape, entry.isSegmentation ? [2, 5, 32, 32] : [2, 5], entry.name)
            y.sum().backward()
            let missing = model.namedParameters().filter { $0.tensor.grad == nil }.map(\.name)
            XCTAssertEqual(missing, [], "\(entry.name): parameters without a gradient")
        }
    }

    func testUnknownModelNamesTheChoices() {
        XCTAssertThrowsError(try ModelRegistry.entry("resnet19")) { error in
            XCTAssertTrue("\(error)".contains("resnet19") && "\(error)".contains("resnet18"), "\(error)")
        }
        XCTAssertEqual(ModelRegistry.names.prefix(3), ["resnet18", "resnet34", "resnet50"])
    }

    func testKeysMatchPyTorchModules() throws {
        let senet = try ModelRegistry.entry("senet18").build().stateDict().map(\.name)
        XCTAssertEqual(Array(senet.prefix(3)), ["conv1.weight", "bn1.weight", "bn1.bias"])
        for key in ["layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.running_var", "layer1.0.fc1.weight", "layer1.0.fc1.bias",
                    "layer4.1.fc2.bias", "linear.weight", "linear.bias"] {
            XCTAssertTrue(senet.contains(key), key)
        }
        XCTAssertFalse(senet.contains("layer1.0.shortcut.0.weight"))

        let unet = UNet(options: .init()).stateDict().map(\.name)
        XCTAssertEqual(Array(unet.prefix(7)), ["conv1.conv1.0.weight", "conv1.conv1.0.bias", "conv1.conv1.1.weight",
                                                "conv1.conv1.1.bias", "conv1.conv1.1.running_mean",
                                                "conv1.conv1.1.running_var", "conv1.conv1.1.num_batches_tracked"])
        for key in ["center.conv2.1.weight", "up_concat4.conv.conv1.0.weight", "up_concat4.up.1.weight",
                    "up_concat1.conv.conv2.0.bias", "final.weight"] {
            XCTAssertTrue(unet.contains(key), key)
        }
        XCTAssertTrue(UNet(options: .init(isDeconv: true)).stateDict().map(\.name).contains("up_concat2.up.weight"))

        let vit = try ModelRegistry.entry("vit_tiny").build().stateDict()
        XCTAssertEqual(Array(vit.prefix(4).map(\.name)), ["class_token", "conv_proj.weight", "conv_proj.bias", "encoder.pos_embedding"])
        XCTAssertEqual(Array(vit.dropFirst(4).prefix(12).map(\.name)), [
            "encoder.layers.encoder_layer_0.ln_1.weight", "encoder.layers.encoder_layer_0.ln_1.bias",
            "encoder.layers.encoder_layer_0.self_attention.in_proj_weight",
            "encoder.layers.encoder_layer_0.self_attention.in_proj_bias",
            "encoder.layers.encoder_layer_0.self_attention.out_proj.weight",
            "encoder.layers.encoder_layer_0.self_attention.out_proj.bias",
            "encoder.layers.encoder_layer_0.ln_2.weight", "encoder.layers.encoder_layer_0.ln_2.bias",
            "encoder.layers.encoder_layer_0.mlp.0.weight", "encoder.layers.encoder_layer_0.mlp.0.bias",
            "encoder.layers.encoder_layer_0.mlp.3.weight", "encoder.layers.encoder_layer_0.mlp.3.bias",
        ])
        XCTAssertEqual(Array(vit.suffix(4).map(\.name)), ["encoder.ln.weight", "encoder.ln.bias", "heads.head.weight", "heads.head.bias"])
        XCTAssertEqual(vit[3].tensor.shape, [1, 50, 192])
    }

    /// Issue 7's figures: ResNet-18 (CIFAR stem, 28², 1 channel) trains at 2.73 GFLOP per image
    /// (3 × forward), ResNet-50 at 224² at 24.3.
    func testFLOPCounts() throws {
        let r18 = try ModelRegistry.entry("resnet18")
        let small = ModelOptions(numClasses: 10, inChannels: 1, stem: .cifar, imageSize: 28)
        XCTAssertEqual(3 * r18.forwardFLOPs(small) / 1e9, 2.73, accuracy: 0.01)
        XCTAssertEqual(3 * (try ModelRegistry.entry("resnet50")).forwardFLOPs() / 1e9, 24.3, accuracy: 0.5)
    }
}
