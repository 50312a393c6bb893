import Autograd
import Distributed
import Foundation
import Kernels
import Models
import NN
import TestSupport
import Training
import XCTest

final class MixedPrecisionTrainingTests: XCTestCase {
    func train(_ config: TrainingConfig) throws -> (Trainer, TrainingSummary) { try trainOnce(config) }

    /// bf16-mixed trains (the loss falls), computes something else than fp32, resumes bitwise
    /// exactly, and its checkpoints (float32 throughout) continue in fp32.
    func testBF16MixedResumesExactlyAndCheckpointsMoveBetweenPrecisions() throws {
        let folder = temporaryFolder("bf16")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var whole = smallConfig("\(folder)/a")
        whole.precision = .bf16Mixed
        let (wholeTrainer, wholeSummary) = try train(whole)
        XCTAssertEqual(ComputePrecision.current, .fp32, "a run leaves the process's precision as it found it")
        XCTAssertTrue(wholeSummary.losses.last! < wholeSummary.losses.first!, "the loss falls: \(wholeSummary.losses)")
        let (_, fp32Summary) = try train(smallConfig("\(folder)/fp32"))
        XCTAssertNotEqual(fp32Summary.losses, wholeSummary.losses, "bf16 operands change the numbers")
        XCTAssertEqual(Double(fp32Summary.losses[0]), Double(wholeSummary.losses[0]), accuracy: 0.05 * Double(fp32Summary.losses[0]))

        var first = whole
        first.checkpointDir = "\(folder)/b"; first.logDir = "\(folder)/b-logs"; first.maxSteps = 5
        _ = try train(first)
        var second = first
        second.maxSteps = nil; second.resume = "auto"
        let (resumed, resumedSummary) = try train(second)
        XCTAssertEqual(resumedSummary.losses, Array(wholeSummary.losses.suffix(7)), "losses after the resume")
        for ((name, a), (_, b)) in zip(wholeTrainer.model.namedParameters(), resumed.model.namedParameters()) {
            assertBitwiseEqual(a, b, "\(name) after resuming")
        }

        var inFP32 = first
        inFP32.precision = .fp32; inFP32.maxSteps = nil
        inFP32.resume = "\(folder)/b/step-000000005.safetensors"
        inFP32.checkpointDir = "\(folder)/c"; inFP32.logDir = "\(folder)/c-logs"
        let (continued, continuedSummary) = try train(inFP32)
        XCTAssertEqual(continued.progress.globalStep, 12)
        XCTAssertEqual(continuedSummary.steps, 7)
    }
}
