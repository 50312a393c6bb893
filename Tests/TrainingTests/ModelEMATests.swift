import Autograd
import Distributed
import Foundation
import TestSupport
import NN
@testable import Training
import XCTest

/// The weights' EMA against a NumPy transcription of torchvision's (Fixtures/make-ema.py), and
/// resumed bit for bit.
final class ModelEMATests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    final class Weights: Module {
        let w = Tensor(zeros: [6])
        override init() { super.init(); registerParameter("w", w) }
    }

    func testUpdatesEqualTorchvisionsTranscribedInNumPy() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/ema.json"))
        let golden = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let (perEpoch, every) = (golden["steps_per_epoch"] as! Int, golden["every"] as! Int)
        let weights = (golden["weights"] as! [[Double]]).map { $0.map(Float.init) }
        let expected = (golden["average_after_step"] as! [[Double]]).map { $0.map(Float.init) }
        XCTAssertEqual(weights.count, 15)
        let module = Weights()
        let ema = ModelEMA(model: module, decay: golden["decay"] as! Double, every: every)
        for (step, current) in weights.enumerated() {
            module.w.pointer.update(from: current, count: 6)
            ema.stepEnded(module, stepInEpoch: step % perEpoch, epoch: step / perEpoch,
                          warmupEpochs: Double(golden["warmup_epochs"] as! Int))
            XCTAssertEqual(ema.averaged[0].tensor.toArray().map(\.bitPattern), expected[step].map(\.bitPattern), "after step \(step)")
        }
    }

    func testTorchvisionsDecayAdjustment() {
        // alpha = (1 − 0.99998)·8·32·32/600 = 0.000273…; capped at 1 for tiny runs.
        XCTAssertEqual(ModelEMA.adjustedDecay(0.99998, every: 32, worldSize: 8, batchPerRank: 32, epochs: 600),
                       1 - 0.00002 * 8 * 32 * 32 / 600, accuracy: 1e-15)
        XCTAssertEqual(ModelEMA.adjustedDecay(0.9, every: 32, worldSize: 8, batchPerRank: 32, epochs: 1), 0)
    }

    func testTheEMAResumesExactly() throws {
        let folder = temporaryFolder("ema")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = smallConfig("\(folder)/whole")
        config.emaDecay = 0.99
        config.emaEvery = 2
        config.maxSteps = 8
        let whole = try Trainer(config: config, communicator: SingleProcessCommunicator(), console: Console(rank: 1))
        _ = try whole.run()
        var split = config
        split.checkpointDir = "\(folder)/split/ckpt"
        split.logDir = "\(folder)/split/logs"
        split.maxSteps = 5
        _ = try Trainer(config: split, communicator: SingleProcessCommunicator(), console: Console(rank: 1)).run()
        split.maxSteps = 8
        split.resume = "auto"
        let resumed = try Trainer(config: split, communicator: SingleProcessCommunicator(), console: Console(rank: 1))
        _ = try resumed.run()
        let a = try XCTUnwrap(whole.ema), b = try XCTUnwrap(resumed.ema)
        XCTAssertEqual(a.updates, b.updates)
        XCTAssertGreaterThan(a.updates, 0)
        var differing: [String] = []
        for (x, y) in zip(a.averaged, b.averaged) where x.tensor.toArray().map(\.bitPattern) != y.tensor.toArray().map(\.bitPattern) {
            differing.append(x.name)
        }
        XCTAssertEqual(differing, [], "EMA tensors differ after the resume")
        XCTAssertEqual(a.averaged.count, whole.model.stateDict().count)
        // The average is not the model: it lags it.
        XCTAssertNotEqual(a.averaged.first { $0.name == "fc.weight" }!.tensor.toArray(), whole.model.stateDict().first { $0.name == "fc.weight" }!.tensor.toArray())
    }
}
