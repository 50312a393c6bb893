import Autograd
import Data
import Foundation
import TestSupport
import Kernels
import Models
import NN
import Training
import XCTest

/// `predict`'s path (image file → evaluation transform → model) against evaluation's (data
/// set sample → model), on a checkpoint from a short real run.
final class PredictionTests: XCTestCase {
    func testPredictOnExportedPNGsMatchesEvaluationOfTheSameSamples() throws {
        let folder = temporaryFolder("predict")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = smallConfig(folder)
        config.data = "fashion-mnist"
        config.imageSize = nil
        config.inChannels = nil
        config.numClasses = nil
        config.epochs = 1
        config.maxSteps = 6
        config.batchSize = 16
        let (_, summary) = try trainOnce(config)
        let checkpoint = try XCTUnwrap(summary.lastCheckpoint)

        let predictor = try Predictor(checkpoint: checkpoint)
        XCTAssertEqual(predictor.spec.classNames, FashionMNIST.classNames)
        XCTAssertEqual(predictor.spec.preprocessing, DataSource.fashionMNIST.preprocessing(options: .init()))

        // The first test images, written as the PNGs a user would have.
        let test = try FashionMNIST.load(train: false, augment: false, seed: 0).prefix(24)
        var files: [String] = []
        for i in 0..<test.count {
            let pixels = Array(test.pixels[(i * 784)..<((i + 1) * 784)])
            let path = "\(folder)/sample-\(i).png"
            try Data(try ImageCodec.encodePNG(DecodedImage(width: 28, height: 28, channels: 1, pixels: pixels, isColour: false)))
                .write(to: URL(fileURLWithPath: path))
            files.append(path)
        }
        let predicted = try predictor.classify(files, top: 3)

        // Evaluation's inputs: the data set's own samples, through a model restored separately.
        let saved = try Checkpoint.load(checkpoint)
        let model = try ModelRegistry.entry("resnet18").build(try config.modelOptions(fitting: test))
        try saved.restore(into: model, optimizer: nil, modelName: "resnet18", source: checkpoint)
        model.eval()
        let input = Tensor(uninitialized: [test.count, 1, 28, 28])
        var label: Int32 = 0
        for i in 0..<test.count { try test.load(i, epoch: 0, image: input.pointer + i * 784, labels: &label) }
        let logits = withNoGrad { model(input) }
        for (i, scores) in predicted.enumerated() {
            let row = Array(UnsafeBufferPointer(start: logits.pointer + i * 10, count: 10))
            let best = row.indices.max { row[$0] < row[$1] || row[$0] == row[$1] && $0 > $1 }!
            XCTAssertEqual(scores.first?.index, best, "sample \(i)")
            XCTAssertEqual(scores.first?.name, FashionMNIST.classNames[best])
            let largest = row.max()!
            let probability = exp(Double(largest)) / row.map { exp(Double($0)) }.reduce(0, +)
            XCTAssertEqual(scores.first!.probability, probability, accuracy: 1e-6, "sample \(i): the same logits")
            XCTAssertEqual(scores.count, 3)
            XCTAssertGreaterThanOrEqual(scores[0].probability, scores[1].probability)
        }
    }

    func testInputsAUserCanGetWrongAreNamed() throws {
        let folder = temporaryFolder("predict-errors")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let grey = Preprocessing(channels: 1, size: 8, cropFraction: 1, normalization: .fashionMNIST)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 3 * 64)
        defer { buffer.deallocate() }

        let colour = "\(folder)/colour.png"
        try Data(try ImageCodec.encodePNG(DecodedImage(width: 8, height: 8, channels: 3, pixels: [UInt8](repeating: 9, count: 192))))
            .write(to: URL(fileURLWithPath: colour))
        XCTAssertThrowsError(try grey.input(fromFile: colour, into: buffer)) {
            XCTAssertTrue("\($0)".contains("colour.png") && "\($0)".contains("greyscale"), "\($0)")
        }
        let text = "\(folder)/notes.png"
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: text))
        XCTAssertThrowsError(try grey.input(fromFile: text, into: buffer)) {
            XCTAssertTrue("\($0)".contains("notes.png") && "\($0)".contains("not a JPEG or PNG"), "\($0)")
        }
        // A grey image for a colour model is replicated, as training does.
        let rgb = Preprocessing(channels: 3, size: 8, cropFraction: 1, normalization: .imageNet)
        let greyFile = "\(folder)/grey.png"
        try Data(try ImageCodec.encodePNG(DecodedImage(width: 16, height: 12, channels: 1, pixels: [UInt8](repeating: 128, count: 192), isColour: false)))
            .write(to: URL(fileURLWithPath: greyFile))
        XCTAssertNoThrow(try rgb.input(fromFile: greyFile, into: buffer))

        // A checkpoint of another model, and a weights file that is no checkpoint.
        let (_, summary) = try trainOnce({ var c = smallConfig(folder); c.maxSteps = 1; c.epochs = 1; return c }())
        let checkpoint = try XCTUnwrap(summary.lastCheckpoint)
        XCTAssertThrowsError(try Predictor(checkpoint: checkpoint, expectedModel: "unet")) {
            XCTAssertTrue("\($0)".contains("checkpoint of model 'resnet18', not 'unet'"), "\($0)")
        }
        let weights = "\(folder)/weights.safetensors"
        try SafeTensors.write([SafeTensors.Entry(name: "w", tensor: Tensor(zeros: [2]))], metadata: [:], to: weights)
        XCTAssertThrowsError(try Predictor(checkpoint: weights)) { XCTAssertTrue("\($0)".contains("not a ddptrain checkpoint"), "\($0)") }
        // A synthetic-data classifier has no class names; it classifies by index.
        let scores = try Predictor(checkpoint: checkpoint).classify([greyFile], top: 10)
        XCTAssertEqual(scores.first?.count, 4, "every class of 4 when more are asked for")
        XCTAssertNil(scores.first?.first?.name)
        XCTAssertEqual(scores.first!.map(\.probability).reduce(0, +), 1, accuracy: 1e-9)
    }

    func testCheckpointsOfOlderVersionsRebuildTheirSpec() throws {
        let folder = temporaryFolder("predict-old")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = smallConfig(folder)
        config.maxSteps = 1
        config.epochs = 1
        let (trainer, summary) = try trainOnce(config)
        let current = try Checkpoint.load(try XCTUnwrap(summary.lastCheckpoint))
        let stored = try XCTUnwrap(current.inference)
        XCTAssertEqual(stored.model, "resnet18")
        XCTAssertEqual([stored.numClasses, stored.inChannels, stored.imageSize], [4, 1, 8])
        XCTAssertEqual(stored.stem, .cifar)
        // Written without the spec, as versions before it did: rebuilt from the config and the data set.
        let old = "\(folder)/old.safetensors"
        try Data(try Checkpoint.encode(model: "resnet18", module: trainer.model, optimizer: nil, progress: current.progress,
                                       config: current.config)).write(to: URL(fileURLWithPath: old))
        let reloaded = try Checkpoint.load(old)
        XCTAssertNil(reloaded.inference)
        XCTAssertEqual(try InferenceSpec.of(reloaded, source: old), stored)
    }

    func testSegmentationWritesAClassPerPixel() throws {
        let folder = temporaryFolder("predict-unet")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = smallConfig(folder)
        config.model = "unet"
        config.data = "shapes"
        config.imageSize = 32
        config.inChannels = nil
        config.numClasses = nil
        config.stem = nil
        config.maxSteps = 2
        config.epochs = 1
        let (_, summary) = try trainOnce(config)
        let predictor = try Predictor(checkpoint: try XCTUnwrap(summary.lastCheckpoint))
        XCTAssertEqual(predictor.spec.classNames, Shapes.classNames)
        let image = "\(folder)/scene.png"
        var generator = RandomGenerator(seed: 3)
        let pixels = (0..<(48 * 40 * 3)).map { _ in UInt8(generator.next() % 256) }
        try Data(try ImageCodec.encodePNG(DecodedImage(width: 48, height: 40, channels: 3, pixels: pixels)))
            .write(to: URL(fileURLWithPath: image))
        let mask = try XCTUnwrap(predictor.segment([image]).first)
        XCTAssertEqual([mask.image.width, mask.image.height, mask.image.channels], [32, 32, 1])
        XCTAssertEqual(mask.classFractions.reduce(0, +), 1, accuracy: 1e-9)
        // Each pixel is the class with the largest score.
        let input = Tensor(uninitialized: [1, 3, 32, 32])
        try predictor.spec.preprocessing.input(fromFile: image, into: input.pointer)
        let saved = try Checkpoint.load(summary.lastCheckpoint!)
        let model = try predictor.spec.buildModel(weightsFrom: saved, source: "")
        let scores = withNoGrad { model(input) }
        for p in stride(from: 0, to: 1024, by: 37) {
            let values = (0..<4).map { scores.pointer[$0 * 1024 + p] }
            XCTAssertEqual(Int(mask.image.pixels[p]), values.indices.max { values[$0] < values[$1] }!, "pixel \(p)")
        }
        XCTAssertThrowsError(try predictor.classify([image])) { XCTAssertTrue("\($0)".contains("masks"), "\($0)") }
    }
}
