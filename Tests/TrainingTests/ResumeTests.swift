import Autograd
import Distributed
import Foundation
import Kernels
import Models
import NN
import TestSupport
import Training
import XCTest

final class ResumeTests: XCTestCase {
    func train(_ config: TrainingConfig) throws -> (Trainer, TrainingSummary) { try trainOnce(config) }

    /// A run stopped at step 5 and resumed gives bitwise the same losses and parameters as a
    /// run never stopped.
    func testResumeIsExact() throws {
        let folder = temporaryFolder("resume")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (whole, wholeSummary) = try train(smallConfig("\(folder)/a"))
        XCTAssertEqual(wholeSummary.steps, 12)

        var first = smallConfig("\(folder)/b")
        first.maxSteps = 5
        let (_, firstSummary) = try train(first)
        XCTAssertEqual(firstSummary.steps, 5)
        XCTAssertEqual(firstSummary.losses, Array(wholeSummary.losses.prefix(5)))

        var second = smallConfig("\(folder)/b")
        second.resume = "auto"
        let (resumed, resumedSummary) = try train(second)
        XCTAssertEqual(resumed.progress.globalStep, 12)
        XCTAssertEqual(resumedSummary.losses, Array(wholeSummary.losses.suffix(7)), "losses after the resume")
        for ((name, a), (_, b)) in zip(whole.model.namedParameters(), resumed.model.namedParameters()) {
            assertBitwiseEqual(a, b, "\(name) after resuming")
        }
        XCTAssertTrue(wholeSummary.losses.last! < wholeSummary.losses.first!, "the loss falls: \(wholeSummary.losses)")
    }

    func testStopSignalFinishesTheStepSavesAndReports() throws {
        let folder = temporaryFolder("stop")
        defer { try? FileManager.default.removeItem(atPath: folder); StopSignal.reset() }
        StopSignal.request()
        let (trainer, summary) = try train(smallConfig(folder))
        XCTAssertTrue(summary.stoppedBySignal)
        XCTAssertEqual(summary.steps, 1)
        let saved = try Checkpoint.load(summary.lastCheckpoint!)
        XCTAssertEqual(saved.progress.globalStep, 1)
        XCTAssertEqual(saved.progress.samplesInEpoch, 4)
        XCTAssertEqual(trainer.progress.globalStep, 1)
    }

    func testLogsAreWritten() throws {
        let folder = temporaryFolder("logs")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try train(smallConfig(folder))
        let lines = try String(contentsOfFile: "\(folder)/logs/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(objects.count, lines.count)
        XCTAssertEqual(objects.filter { $0["kind"] as? String == "eval" }.count, 2, "one evaluation per epoch")
        XCTAssertTrue(objects.allSatisfy { $0["accuracy_top5"] == nil }, "4 classes: no Acc@5")
        XCTAssertTrue(objects.contains { $0["kind"] as? String == "train" && $0["lr"] is Double && $0["images_per_second"] is Double })
        XCTAssertTrue(objects.filter { $0["kind"] as? String == "train" }.allSatisfy { ($0["grad_norm"] as? Double ?? 0) > 0 },
                      "every train record has the gradient's norm")
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/logs/run.json"))) as! [String: Any]
        XCTAssertEqual(run["world_size"] as? Int, 1)
        XCTAssertNotNil((run["config"] as? [String: Any])?["batch_size"])
        let svg = try String(contentsOfFile: "\(folder)/logs/curves.svg", encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("polyline"))
        let events = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/logs").filter { $0.hasPrefix("events.out.tfevents.") }
        XCTAssertEqual(events.count, 1)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: "\(folder)/ckpt")),
                       ["step-000000006.safetensors", "step-000000012.safetensors", "best.safetensors"])
    }
}
