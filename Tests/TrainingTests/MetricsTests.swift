import Autograd
@testable import Training
import Foundation
import XCTest

/// Acc@1 and Acc@5 as torchvision's reference scripts count them.
final class MetricsTests: XCTestCase {
    func testTopKCountsTheLabelAmongTheHighestScores() {
        // Six classes; the label's rank among the scores is 0, 2, 4, 5 and (a tie) 1.
        let logits = Tensor(shape: [5, 6], data: [0.9, 0.1, 0.2, 0.3, 0.4, 0.5,   // label 0: first
                             0.1, 0.9, 0.8, 0.3, 0.2, 0.0,   // label 3: two classes ahead
                             0.6, 0.5, 0.4, 0.1, 0.2, 0.7,   // label 4: four ahead
                             0.1, 0.2, 0.3, 0.4, 0.5, 0.6,   // label 0: five ahead
                             0.5, 0.5, 0.1, 0.1, 0.1, 0.1])  // label 1: tied with class 0, which ranks first
        let labels: [Int32] = [0, 3, 4, 0, 1]
        XCTAssertEqual(correctPredictions(logits, labels: labels), 1)
        XCTAssertEqual(correctPredictions(logits, labels: labels, within: 2), 2)
        XCTAssertEqual(correctPredictions(logits, labels: labels, within: 3), 3)
        XCTAssertEqual(correctPredictions(logits, labels: labels, within: 5), 4)
        XCTAssertEqual(correctPredictions(logits, labels: labels, within: 6), 5)
        XCTAssertEqual(correctPredictions(logits, labels: [0, -1, 4, -1, 1], within: 5), 3, "ignored labels are not counted")
        XCTAssertTrue(reportsTop5(logits))
        XCTAssertFalse(reportsTop5(Tensor(zeros: [2, 4])), "fewer than five classes")
        XCTAssertFalse(reportsTop5(Tensor(zeros: [2, 6, 3, 3])), "segmentation logits")
    }

    func testMetricsLogWritesAcc5WhereItApplies() throws {
        let folder = NSTemporaryDirectory() + "metrics-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let log = try MetricsLog(directory: folder, run: [:])
        log.logEval(step: 1, epoch: 0, loss: 1, accuracy: 0.5, top5Accuracy: 0.9, samples: 10)
        log.logEval(step: 2, epoch: 1, loss: 1, accuracy: 0.5, samples: 10)
        let records = try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(records.count, 2)
        XCTAssertEqual(records.first?["accuracy_top5"] as? Double, 0.9)
        XCTAssertNil(records.last?["accuracy_top5"], "no Acc@5 where it does not apply")
    }

    func testTop5TotalsSurviveTheAllReducePacking() {
        var totals = StepTotals()
        totals.correct = 3; totals.labelled = 8; totals.correctTop5 = 6; totals.labelledTop5 = 8
        let unpacked = StepTotals(packed: totals.packed)
        XCTAssertEqual(unpacked, totals)
        XCTAssertEqual(unpacked.top5Accuracy, 0.75)
        XCTAssertNil(StepTotals().top5Accuracy, "nothing counted: no Acc@5")
    }
}
