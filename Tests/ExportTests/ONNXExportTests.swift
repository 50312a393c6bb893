import Autograd
import Export
import Foundation
import Kernels
import Models
import NN
import XCTest

/// Every model exports to ONNX, `onnx.checker` accepts the file, and onnxruntime's outputs for
/// batches of other sizes than the traced one equal ddptrain's eval outputs.
final class ONNXExportTests: XCTestCase {
    /// One relative (to the output's largest magnitude) error bound for every model.
    static let tolerance = 1e-4

    func testEveryModelRunsInONNXRuntime() throws {
        let python = try Self.pythonWithONNXRuntime()
        // Built one at a time: ResNet-152 and its SE variant hold 60 M weights each.
        var cases: [(String, () -> LayerModule, [Int])] = []
        for entry in ModelRegistry.entries {
            let size = entry.name == "vit_tiny" ? 28 : 32
            let options = ModelOptions(numClasses: 7, inChannels: 3, imageSize: size)
            cases.append((entry.name, { entry.build(options) }, [3, size, size]))
        }
        cases.append(("resnet18 cifar stem, 1 channel", { ResNet(depth: 18, options: .init(numClasses: 10, inChannels: 1, stem: .cifar)) }, [1, 28, 28]))
        cases.append(("unet transposed-conv upsampling", { UNet(options: .init(inChannels: 1, numClasses: 3, isDeconv: true)) }, [1, 32, 32]))
        for (name, build, sampleShape) in cases {
            let model = build()
            try check(name, model: model, sampleShape: sampleShape, python: python)
        }
    }

    func testLossOperationsAreRefused() {
        let model = Sequential(Linear(4, 2))
        XCTAssertNoThrow(try ONNXExporter.export(model, sampleShape: [4], options: .init(graphName: "m", producerVersion: "t")))
        final class WithLoss: Module, Layer {
            func callAsFunction(_ x: Tensor) -> Tensor { (x * x).sum() }
        }
        XCTAssertThrowsError(try ONNXExporter.export(WithLoss(), sampleShape: [4], options: .init(graphName: "m", producerVersion: "t"))) {
            XCTAssertTrue("\($0)".contains("sum is part of the loss"), "\($0)")
        }
    }

    private func check(_ name: String, model: LayerModule, sampleShape: [Int], python: String) throws {
        Self.randomizeStatistics(model)
        model.eval()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let proto = try ONNXExporter.export(model, sampleShape: sampleShape, options: .init(
            graphName: name, producerVersion: "test", metadata: ["ddptrain.model": name]))
        let modelPath = "\(directory)/model.onnx"
        try ONNXExporter.serialize(proto).write(to: URL(fileURLWithPath: modelPath))

        var generator = RandomGenerator(seed: 11)
        var caseList: [[String: Any]] = []
        for batch in [1, 2] {
            let x = Tensor.randn([batch] + sampleShape, using: &generator)
            let y = withNoGrad { model(x) }
            let input = "\(directory)/x\(batch).bin", expected = "\(directory)/y\(batch).bin"
            try Self.write(x, to: input)
            try Self.write(y, to: expected)
            caseList.append(["input": input, "input_shape": x.shape, "expected": expected, "expected_shape": y.shape])
        }
        let casesPath = "\(directory)/cases.json"
        try JSONSerialization.data(withJSONObject: ["cases": caseList, "tolerance": Self.tolerance]).write(to: URL(fileURLWithPath: casesPath))

        let (status, output) = try Self.run(python, [Self.script, modelPath, casesPath])
        XCTAssertEqual(status, 0, "\(name): onnxruntime disagrees or the checker refused the file: \(output)")
        guard let line = output.split(separator: "\n").last,
              let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return XCTFail("\(name): no report from check_onnx.py: \(output)")
        }
        XCTAssertEqual(report["opset"] as? Int, 17, name)
        XCTAssertEqual(report["inputs"] as? [String], ["input"], name)
        XCTAssertEqual(report["outputs"] as? [String], ["logits"], name)
        XCTAssertEqual((report["metadata"] as? [String: String])?["ddptrain.model"], name)
        let batches = (report["cases"] as? [[String: Any]] ?? []).compactMap { $0["batch"] as? Int }
        XCTAssertEqual(batches, [1, 2], "\(name): both batch sizes were run")
        print("onnx export \(name): \(line)")
    }

    /// Batch norm layers with non-trivial running statistics and affine parameters, so that
    /// the exported eval-mode normalisation is checked, not only its identity case.
    static func randomizeStatistics(_ model: Module) {
        var generator = RandomGenerator(seed: 5)
        for (name, tensor) in model.stateDict() {
            let values: Tensor
            if name.hasSuffix("running_mean") || name.hasSuffix("bias") && tensor.rank == 1 {
                values = Tensor.uniform(tensor.shape, low: -0.2, high: 0.2, using: &generator)
            } else if name.hasSuffix("running_var") {
                values = Tensor.uniform(tensor.shape, low: 0.5, high: 1.5, using: &generator)
            } else if name.hasSuffix("weight") && tensor.rank == 1 {
                // Below 1, as in trained networks: 50 residual blocks of gain above 1 blow the logits up to
                // thousands, where float32 rounding alone (Winograd against direct convolution) moves them.
                values = Tensor.uniform(tensor.shape, low: 0.3, high: 0.8, using: &generator)
            } else if name.hasPrefix("heads.head.") {
                values = Tensor.uniform(tensor.shape, low: -0.1, high: 0.1, using: &generator)  // torchvision zeroes the ViT head
            } else { continue }
            tensor.copyValues(from: values)
        }
    }

    static func write(_ tensor: Tensor, to path: String) throws {
        try Data(bytes: tensor.pointer, count: tensor.count * MemoryLayout<Float>.size).write(to: URL(fileURLWithPath: path))
    }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("check_onnx.py").path
    }

    /// python3 when it imports onnx and onnxruntime; otherwise the test is skipped, unless
    /// DDPTRAIN_REQUIRE_ONNXRUNTIME=1 (launch/test installs both and sets it) makes that a failure.
    static func pythonWithONNXRuntime() throws -> String {
        let python = "python3"
        let (status, output) = (try? run(python, ["-c", "import onnx, onnxruntime, numpy"])) ?? (1, "python3 not found")
        if status == 0 { return python }
        let message = "onnx and onnxruntime are not importable (pip install onnx onnxruntime): \(output)"
        if ProcessInfo.processInfo.environment["DDPTRAIN_REQUIRE_ONNXRUNTIME"] == "1" { throw XCTSkip.failure(message) }
        throw XCTSkip(message)
    }

    static func run(_ program: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

private extension XCTSkip {
    /// A missing requirement that must fail the run rather than skip.
    struct Failure: Error, CustomStringConvertible { let description: String }
    static func failure(_ message: String) -> Failure { Failure(description: message) }
}
