import Distributed
import Foundation
import TestSupport
import Training
import XCTest

/// Every bad input a user can give gets one clear error, and existing checkpoints stay untouched.
final class BadInputTests: XCTestCase {
    /// Setting up or running `config` throws an error whose message contains `text`.
    func expectFailure(_ config: TrainingConfig, mentioning text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try trainOnce(config), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(text), "\(error)", file: file, line: line)
        }
    }

    /// A rate that overflows the weights makes the loss non-finite within a few steps: `non_finite: stop`
    /// ends the run with a message naming the step and the rank, `skip` leaves those steps' weights alone.
    func testNonFiniteStepsStopTheRunOrAreSkipped() throws {
        let folder = temporaryFolder("non-finite")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = smallConfig(folder)
        config.lr = 1e36
        config.warmupEpochs = 0
        config.schedule = .constant
        config.maxSteps = 6
        config.nonFinite = .stop
        expectFailure(config, mentioning: "non-finite loss or gradient on rank 0; stopping")
        config.nonFinite = .skip
        config.checkpointDir = "\(folder)/skip"
        let (trainer, summary) = try trainOnce(config)
        XCTAssertEqual(summary.steps, 6, "every step ran")
        XCTAssertTrue(summary.losses.contains { !$0.isFinite }, "some step's loss was not finite: \(summary.losses)")
        XCTAssertTrue(trainer.model.parameters().allSatisfy { $0.toArray().allSatisfy(\.isFinite) },
                      "skipped steps left the weights finite")
    }

    func testEachBadInputNamesTheProblem() throws {
        let folder = temporaryFolder("bad")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var c = smallConfig(folder)
        c.model = "resnet19"
        expectFailure(c, mentioning: "unknown model 'resnet19'")
        c = smallConfig(folder); c.data = "imagenet"
        expectFailure(c, mentioning: "unknown data set 'imagenet'")
        c = smallConfig(folder); c.data = "cifar10"; c.dataDir = "\(folder)/no-such-folder"
        expectFailure(c, mentioning: "no-such-folder: folder not found")
        c = smallConfig(folder); c.lr = -1
        expectFailure(c, mentioning: "lr must be a positive number")
        c = smallConfig(folder); c.batchSize = 0
        expectFailure(c, mentioning: "batch_size must be positive")
        c = smallConfig(folder); c.checkpointDir = "/proc/ddptrain-cannot-write-here"
        expectFailure(c, mentioning: "/proc/ddptrain-cannot-write-here: cannot create the checkpoint folder")
        c = smallConfig(folder); c.resume = "\(folder)/missing.safetensors"
        expectFailure(c, mentioning: "missing.safetensors: checkpoint not found")
        c = smallConfig(folder); c.weights = "\(folder)/missing-weights.safetensors"
        expectFailure(c, mentioning: "missing-weights.safetensors: cannot read the file")
    }

    func testCheckpointOfAnotherModelOrShapeIsRefusedAndLeftAlone() throws {
        let folder = temporaryFolder("other")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var c = smallConfig(folder)
        c.maxSteps = 1
        _ = try Trainer(config: c, communicator: SingleProcessCommunicator(), console: Console(rank: 1)).run()
        let saved = "\(folder)/ckpt/step-000000001.safetensors"
        let before = try Data(contentsOf: URL(fileURLWithPath: saved))

        var other = smallConfig(folder)
        other.model = "resnet34"
        other.resume = saved
        expectFailure(other, mentioning: "checkpoint of model 'resnet18', but the run builds 'resnet34'")
        var shapes = smallConfig(folder)
        shapes.numClasses = 7
        shapes.resume = "auto"
        expectFailure(shapes, mentioning: "fc.weight: the model has shape [7, 512], the weights [4, 512]")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: saved)), before, "the checkpoint is untouched")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(folder)/ckpt").filter { $0.hasPrefix("step-") },
                       ["step-000000001.safetensors"])
    }
}
