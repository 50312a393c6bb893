import Autograd
@testable import Data
import Foundation
import Kernels
import XCTest

/// Mixup and CutMix against torchvision's own transforms on the same batch and draws
/// (Fixtures/make-mixing.py), the loss on mixed targets with label smoothing against PyTorch's
/// soft-target cross-entropy, and the Beta draws' distribution.
final class BatchMixingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    func testMixupAndCutMixEqualTorchvisionsOnTheSameDraws() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/mixing.json"))
        let golden = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let shape = golden["shape"] as! [Int]
        let images = (golden["images"] as! [Double]).map(Float.init)
        let labels = (golden["labels"] as! [Int]).map(Int32.init)
        let logits = Tensor(shape: [shape[0], golden["classes"] as! Int], data: (golden["logits"] as! [Double]).map(Float.init))
        let cases = golden["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 3)
        for (index, c) in cases.enumerated() {
            let lambda = c["lambda"] as! Double
            var drawn: (lambda: Double, kind: BatchMixing.Kind) = (lambda, .mixup)
            if c["kind"] as! String == "cutmix" {
                drawn = BatchMixing.cutMix(lambda: lambda, centreX: c["rx"] as! Int, centreY: c["ry"] as! Int,
                                           height: shape[2], width: shape[3])
                let box = c["box"] as! [Int]
                XCTAssertEqual(drawn.kind, .cutmix(x1: box[0], y1: box[1], x2: box[2], y2: box[3]), "case \(index): the box")
            }
            XCTAssertEqual(drawn.lambda, c["lambda_adjusted"] as! Double, accuracy: 1e-12, "case \(index): λ")
            let batch = Tensor(shape: shape, data: images)
            let mix = BatchMixing.mix(batch, labels: labels, lambda: drawn.lambda, kind: drawn.kind)
            XCTAssertEqual(mix.partnerLabels, [3, 0, 1, 2])
            let expected = (c["images"] as! [Double]).map(Float.init)
            let worst = zip(batch.toArray(), expected).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1e-6, "case \(index): images differ from torchvision's by \(worst)")
            let loss = crossEntropy(logits, labels: labels, labelSmoothing: 0.1) * Float(mix.lambda)
                + crossEntropy(logits, labels: mix.partnerLabels, labelSmoothing: 0.1) * Float(1 - mix.lambda)
            XCTAssertEqual(Double(loss.item()), c["loss"] as! Double, accuracy: 1e-5, "case \(index): loss on the mixed targets")
        }
    }

    func testBetaDrawsAndChoicesHaveTheirDistribution() {
        var rng = RandomGenerator(seed: 9)
        for alpha in [0.2, 1.0] {
            let draws = (0..<20_000).map { _ in rng.beta(alpha, alpha) }
            let mean = draws.reduce(0, +) / Double(draws.count)
            let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count)
            XCTAssertEqual(mean, 0.5, accuracy: 0.01, "Beta(\(alpha), \(alpha)) mean")
            XCTAssertEqual(variance, 1 / (4 * (2 * alpha + 1)), accuracy: 0.01, "Beta(\(alpha), \(alpha)) variance")
        }
        let both = BatchMixing(mixupAlpha: 0.2, cutmixAlpha: 1.0)
        let cutmixShare = Double((0..<2000).filter { step in
            if case .cutmix = both.draw(seed: 1, step: step, micro: 0, height: 8, width: 8).kind { return true } else { return false }
        }.count) / 2000
        XCTAssertEqual(cutmixShare, 0.5, accuracy: 0.05, "one or the other with equal chance")
        XCTAssertEqual(both.draw(seed: 1, step: 7, micro: 1, height: 8, width: 8).lambda,
                       both.draw(seed: 1, step: 7, micro: 1, height: 8, width: 8).lambda, "the same draw on every rank and resume")
    }
}
