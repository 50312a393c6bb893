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

/// The confusion matrix and what torchvision's segmentation reference computes from it.
final class ConfusionMatrixTests: XCTestCase {
    func testCountsIoUAndIgnoredPixels() {
        // Two images of 2×2 pixels, 3 classes; 255 is ignored. Scores put the arg-max where
        // `predicted` says.
        let truth: [Int32] = [0, 0, 1, 2, 1, 1, 255, 2]
        let predicted = [0, 1, 1, 2, 1, 0, 2, 0]
        var values = [Float](repeating: 0, count: 2 * 3 * 4)
        for (i, p) in predicted.enumerated() {
            let (image, pixel) = (i / 4, i % 4)
            values[(image * 3 + p) * 4 + pixel] = 1
        }
        var matrix = ConfusionMatrix(classes: 3)
        matrix.add(Tensor(shape: [2, 3, 2, 2], data: values), labels: truth)
        // Rows are true classes: 0 → {0, 1}; 1 → {1, 1, 0}; 2 → {2, 0}; the 255 pixel is not counted.
        XCTAssertEqual(matrix.counts, [1, 1, 0,
                                       1, 2, 0,
                                       1, 0, 1])
        XCTAssertEqual(matrix.accuracy, 4.0 / 7.0, accuracy: 1e-12)
        let iou = matrix.intersectionOverUnion.map { $0 ?? -1 }
        // class 0: TP 1, row 2, column 3 → 1/4; class 1: 2/(3+3−2) = 1/2; class 2: 1/(2+1−1) = 1/2.
        XCTAssertEqual(iou[0], 0.25, accuracy: 1e-12)
        XCTAssertEqual(iou[1], 0.5, accuracy: 1e-12)
        XCTAssertEqual(iou[2], 0.5, accuracy: 1e-12)
        XCTAssertEqual(matrix.meanIntersectionOverUnion, 1.25 / 3, accuracy: 1e-12)
        XCTAssertEqual(matrix.perClassAccuracy.map { $0 ?? -1 }, [0.5, 2.0 / 3.0, 0.5])
    }

    func testAClassThatNeverOccursIsLeftOutOfTheMean() {
        var matrix = ConfusionMatrix(classes: 3)
        matrix.add(Tensor(shape: [2, 3], data: [1, 0, 0, 0, 1, 0]), labels: [0, 1])
        XCTAssertNil(matrix.intersectionOverUnion[2])
        XCTAssertNil(matrix.perClassAccuracy[2])
        XCTAssertEqual(matrix.meanIntersectionOverUnion, 1)
    }

    func testCSVAndSVGCarryTheCounts() {
        var matrix = ConfusionMatrix(classes: 2)
        matrix.add(Tensor(shape: [3, 2], data: [1, 0, 0, 1, 1, 0]), labels: [0, 1, 1])
        XCTAssertEqual(matrix.csv(classNames: ["cat", "a, \"dog\""]),
                       "true \\ predicted,cat,\"a, \"\"dog\"\"\"\ncat,1,0\n\"a, \"\"dog\"\"\",1,1\n")
        let svg = matrix.svg(classNames: ["cat", "<dog>"])
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        XCTAssertTrue(svg.contains("&lt;dog&gt;") && !svg.contains("<dog>"), "names are escaped")
        XCTAssertEqual(svg.components(separatedBy: "<rect").count - 1, 4, "one cell per pair of classes")
    }
}
