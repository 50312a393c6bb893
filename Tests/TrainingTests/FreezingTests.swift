import Autograd
import Distributed
import Foundation
import TestSupport
import Models
import NN
import Optim
@testable import Training
import XCTest

/// `--freeze` and `--head-lr-factor`: frozen parameters and BatchNorm statistics do not move,
/// take no optimizer state and are not all-reduced; the rest trains.
final class FreezingTests: XCTestCase {
    func snapshot(_ model: Module) -> [String: [UInt32]] {
        Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor.toArray().map(\.bitPattern)) })
    }

    func testFrozenParametersAndStatisticsStayPutTheRestTrains() throws {
        let folder = temporaryFolder("freeze")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = smallConfig(folder)
        config.maxSteps = 5
        config.freeze = "conv1, bn1,layer1"
        let trainer = try Trainer(config: config, communicator: SingleProcessCommunicator(), console: Console(rank: 1))
        let before = snapshot(trainer.model)
        _ = try trainer.run()
        let after = snapshot(trainer.model)
        let frozen = ["conv1.", "bn1.", "layer1."]
        var checkedFrozen = 0, checkedMoving = 0
        for (name, values) in after where !name.hasSuffix("num_batches_tracked") {
            if frozen.contains(where: name.hasPrefix) {
                XCTAssertEqual(values, before[name], "\(name) is frozen but moved")
                checkedFrozen += 1
            } else if name.hasPrefix("layer2.0.bn1.") || name.hasSuffix(".weight") && name.hasPrefix("layer") || name.hasPrefix("fc.") {
                XCTAssertNotEqual(values, before[name], "\(name) trains but did not move")
                checkedMoving += 1
            }
        }
        XCTAssertEqual(checkedFrozen, 1 + 4 + 2 * (2 * 1 + 2 * 4), "conv1, bn1 and layer1's two blocks (BN: weight, bias, running mean and var)")
        XCTAssertGreaterThan(checkedMoving, 20)
        XCTAssertEqual(after["layer1.0.bn1.num_batches_tracked"], before["layer1.0.bn1.num_batches_tracked"])
        XCTAssertTrue(trainer.optimizer.state.keys.allSatisfy { !frozen.contains(where: $0.hasPrefix) },
                      "no optimizer state for frozen parameters")
        XCTAssertFalse(trainer.optimizer.state.isEmpty)

        // Resuming the frozen run continues it.
        config.maxSteps = 7
        config.resume = "auto"
        let resumed = try Trainer(config: config, communicator: SingleProcessCommunicator(), console: Console(rank: 1))
        XCTAssertEqual(try resumed.run().steps, 2, "steps 6 and 7 after the resume")
        XCTAssertEqual(snapshot(resumed.model)["layer1.0.conv1.weight"], before["layer1.0.conv1.weight"])
    }

    func testBackboneLeavesTheHeadAndTheHeadTakesItsFactor() throws {
        var config = smallConfig(temporaryFolder("backbone"))
        config.freeze = "backbone"
        config.headLRFactor = 10
        let entry = try ModelRegistry.entry("resnet18")
        let model = entry.build(config.modelOptions)
        let prefixes = config.freezePrefixes(headPrefix: entry.headPrefix, topLevelNames: model.children.map(\.name))
        XCTAssertEqual(prefixes, ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"])
        try model.freeze(prefixes: prefixes)
        XCTAssertEqual(model.trainableParameters().map(\.name), ["fc.weight", "fc.bias"])
        model.train()
        XCTAssertFalse(model.namedModules().first { $0.name == "layer3.1.bn2" }!.module.isTraining, "frozen BN stays in eval mode")
        XCTAssertTrue(model.namedModules().first { $0.name == "fc" }!.module.isTraining)

        let unfrozen = entry.build(config.modelOptions)
        let optimizer = config.makeOptimizer(unfrozen.namedParameters(), headPrefix: entry.headPrefix)
        for group in optimizer.paramGroups {
            let isHead = group.parameters.allSatisfy { $0.name.hasPrefix("fc.") }
            XCTAssertTrue(isHead || group.parameters.allSatisfy { !$0.name.hasPrefix("fc.") }, "the head has groups of its own")
            XCTAssertEqual(group.initialLR, isHead ? 10 * config.lr : config.lr, accuracy: 1e-12)
        }
        XCTAssertEqual(optimizer.paramGroups.count, 4, "decayed and undecayed, body and head")

        // The trainer scales every group to the global batch and keeps the head's factor.
        config.freeze = nil
        let trainer = try Trainer(config: config, communicator: SingleProcessCommunicator(), console: Console(rank: 1))
        let rates = trainer.optimizer.paramGroups.map { ($0.parameters.first!.name.hasPrefix("fc.") ? "head" : "body", $0.initialLR) }
        let body = rates.filter { $0.0 == "body" }.map(\.1), head = rates.filter { $0.0 == "head" }.map(\.1)
        XCTAssertEqual(Set(body), [config.lr * 4 / 256], "linear scaling to the global batch of 4")
        XCTAssertEqual(head.count, 2)
        for rate in head { XCTAssertEqual(rate, 10 * config.lr * 4 / 256, accuracy: 1e-15) }
    }

    func testAPrefixThatNamesNothingIsRefused() throws {
        let model = try ModelRegistry.entry("resnet18").build(smallConfig(temporaryFolder("prefix")).modelOptions)
        XCTAssertThrowsError(try model.freeze(prefixes: ["layer"])) {
            XCTAssertTrue("\($0)".contains("'layer' names no module or parameter") && "\($0)".contains("conv1, bn1, layer1"), "\($0)")
        }
        XCTAssertEqual(try model.freeze(prefixes: ["fc.bias"]), ["fc.bias"])
        var config = smallConfig(temporaryFolder("all-frozen"))
        config.freeze = "backbone,fc"
        XCTAssertThrowsError(try Trainer(config: config, communicator: SingleProcessCommunicator(), console: Console(rank: 1))) {
            XCTAssertTrue("\($0)".contains("nothing is left to train"), "\($0)")
        }
    }
}
