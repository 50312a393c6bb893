import Autograd
import Distributed
import Foundation
import Kernels
import Models
import NN
import TestSupport
import Training
import XCTest

final class FineTuneTests: XCTestCase {
    /// `--weights` from a model with another class count: everything loads but the classifier
    /// head, which keeps its fresh initialisation.
    func testWeightsWithAnotherHeadAreLoadedForFineTuning() throws {
        let folder = temporaryFolder("finetune")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var pretrainedConfig = smallConfig(folder)
        pretrainedConfig.numClasses = 6
        pretrainedConfig.maxSteps = 2
        let pretrained = try Trainer(config: pretrainedConfig, communicator: SingleProcessCommunicator(), console: Console(rank: 1))
        _ = try pretrained.run()
        try SafeTensors.write(pretrained.model.safeTensorsEntries(), metadata: ["format": "pt"], to: "\(folder)/pretrained.safetensors")

        var config = smallConfig("\(folder)/tuned")
        config.weights = "\(folder)/pretrained.safetensors"
        config.seed = 99
        let tuned = try Trainer(config: config, communicator: SingleProcessCommunicator(), console: Console(rank: 1))
        let source = Dictionary(uniqueKeysWithValues: pretrained.model.stateDict().map { ($0.name, $0.tensor.toArray()) })
        // The head as a fresh model of the same seed initialises it.
        Initializers.manualSeed(config.seed)
        let fresh = try ModelRegistry.entry("resnet18").build(config.modelOptions)
        let freshHead = Dictionary(uniqueKeysWithValues: fresh.stateDict().filter { $0.name.hasPrefix("fc.") }
            .map { ($0.name, $0.tensor.toArray()) })
        for (name, tensor) in tuned.model.stateDict() {
            if name.hasPrefix("fc.") {
                XCTAssertEqual(tensor.shape.first, 4, name)
                XCTAssertEqual(tensor.toArray(), freshHead[name], "\(name) is not the fresh initialisation")
                XCTAssertNotEqual(tensor.toArray().prefix(4), source[name]?.prefix(4), "\(name) came from the pretrained file")
            } else {
                XCTAssertEqual(tensor.toArray(), source[name], "\(name) was not loaded")
            }
        }
    }
}
