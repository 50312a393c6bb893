import Autograd
import Distributed
import Foundation
import Kernels
import Models
import NN
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
            XCTAssertEqual(a.toArray(), b.toArray(), "\(name) differs after resuming")
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
            XCTAssertEqual(a.toArray(), b.toArray(), "\(name) differs after resuming")
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
            XCTAssertEqual(a.toArray(), b.toArray(), "\(name) differs after resuming")
        }
        var fineTune = smallConfig("\(folder)/c")
        fineTune.weights = firstSummary.lastCheckpoint
        fineTune.maxSteps = 1
        XCTAssertNoThrow(try trainOnce(fineTune), "a checkpoint with PowerSGD state serves as --weights")
    }
}

final class TimelineTests: XCTestCase {
    /// `--timeline`: a Chrome trace with every step's phases, each bucket's all-reduce on a thread
    /// of its own, the evaluations and checkpoints, in time order per thread.
    func testTimelineDrawsEveryStep() throws {
        let folder = temporaryFolder("timeline")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = smallConfig(folder)
        config.timeline = "\(folder)/trace.json"
        let (_, summary) = try trainOnce(config)
        let trace = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/trace.json"))) as! [String: Any]
        let events = (trace["traceEvents"] as! [[String: Any]]).filter { $0["ph"] as? String == "X" }
        func count(_ name: String) -> Int { events.filter { $0["name"] as? String == name }.count }
        XCTAssertEqual(count("forward"), summary.steps)
        XCTAssertEqual(count("backward"), summary.steps)
        XCTAssertEqual(count("optimizer"), summary.steps)
        XCTAssertEqual(count("data"), summary.steps)
        XCTAssertEqual(count("evaluation"), 2, "one per epoch")
        XCTAssertGreaterThanOrEqual(count("checkpoint"), 2)
        let buckets = events.filter { ($0["name"] as? String)?.hasSuffix("all-reduce") == true }
        XCTAssertFalse(buckets.isEmpty)
        XCTAssertTrue(buckets.allSatisfy { $0["tid"] as? Int == 1 })
        let forwards = events.filter { $0["name"] as? String == "forward" }.map { $0["ts"] as! Double }
        XCTAssertEqual(forwards, forwards.sorted(), "steps in time order")
        XCTAssertTrue(events.allSatisfy { ($0["dur"] as! Double) >= 0 && ($0["ts"] as! Double) >= 0 })
    }
}
