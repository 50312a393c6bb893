import Autograd
import Distributed
import Foundation
import Kernels
import Models
import NN
import TestSupport
import Training
import XCTest

final class PowerSGDTrainingTests: XCTestCase {
    /// PowerSGD (after 2 warm-up steps) trains, differs from uncompressed training, and a run
    /// stopped after PowerSGD started resumes bit for bit: Q and the error feedback are in the checkpoint.
    func testPowerSGDResumesExactly() throws {
        let folder = temporaryFolder("powersgd")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var whole = smallConfig("\(folder)/a")
        whole.gradCompression = .powerSGD
        whole.powersgdRank = 1
        whole.powersgdWarmupSteps = 2
        let (wholeTrainer, wholeSummary) = try trainOnce(whole)
        let (_, plainSummary) = try trainOnce(smallConfig("\(folder)/plain"))
        XCTAssertEqual(Array(wholeSummary.losses.prefix(3)), Array(plainSummary.losses.prefix(3)), "warm-up and the first compressed step's loss")
        XCTAssertNotEqual(wholeSummary.losses, plainSummary.losses, "rank-1 factors change the steps after the warm-up")

        var first = whole
        first.checkpointDir = "\(folder)/b"; first.logDir = "\(folder)/b-logs"; first.maxSteps = 5
        let (_, firstSummary) = try trainOnce(first)
        let saved = try Checkpoint.load(try XCTUnwrap(firstSummary.lastCheckpoint))
        XCTAssertTrue(saved.communicationState.keys.contains("powersgd.q.0"), "\(saved.communicationState.keys.sorted())")
        XCTAssertTrue(saved.communicationState.keys.contains("powersgd.error.0.0"))
        XCTAssertTrue(saved.communicationState["powersgd.error.0.0"]!.toArray().contains { $0 != 0 }, "the error is kept")
        var second = first
        second.maxSteps = nil; second.resume = "auto"
        let (resumed, resumedSummary) = try trainOnce(second)
        XCTAssertEqual(resumedSummary.losses, Array(wholeSummary.losses.suffix(7)), "losses after the resume")
        for ((name, a), (_, b)) in zip(wholeTrainer.model.namedParameters(), resumed.model.namedParameters()) {
            assertBitwiseEqual(a, b, "\(name) after resuming")
        }
        var fineTune = smallConfig("\(folder)/c")
        fineTune.weights = firstSummary.lastCheckpoint
        fineTune.maxSteps = 1
        XCTAssertNoThrow(try trainOnce(fineTune), "a checkpoint with PowerSGD state serves as --weights")
    }
}
