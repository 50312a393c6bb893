@testable import Distributed
import Autograd
import Foundation
import Kernels
import NN
import XCTest

final class PowerSGDTests: XCTestCase {
    func testGramSchmidtGivesOrthonormalColumns() {
        var generator = RandomGenerator(seed: 4)
        let (rows, columns) = (50, 4)
        var a = (0..<(rows * columns)).map { _ in Float(generator.normalPair().0) }
        for i in 0..<rows { a[i * columns + 3] = 0 }  // a zero column stays zero
        a.withUnsafeMutableBufferPointer { PowerSGDBucket.orthonormalizeColumns($0.baseAddress!, rows: rows, columns: columns) }
        for j in 0..<3 {
            for k in 0..<3 {
                let dot = (0..<rows).reduce(0.0) { $0 + Double(a[$1 * columns + j]) * Double(a[$1 * columns + k]) }
                XCTAssertEqual(dot, j == k ? 1 : 0, accuracy: 1e-5, "columns \(j), \(k)")
            }
        }
        XCTAssertTrue((0..<rows).allSatisfy { a[$0 * columns + 3] == 0 })
    }

    /// On one rank: biases pass exactly, the applied gradients plus the final error equal the
    /// sum of the true gradients, and a gradient of rank ≤ r is recovered exactly once Q has
    /// converged (power iteration on a fixed matrix).
    func testErrorFeedbackLosesNothingAndLowRankIsExact() {
        let weight = Tensor(zeros: [40, 30]), bias = Tensor(zeros: [40])
        let bucket = PowerSGDBucket(parameters: [weight, bias], offsets: [0, 1200], count: 1240, rank: 2, seed: 0)
        XCTAssertEqual(bucket.plainCount, 40)
        XCTAssertEqual(bucket.wireCount, 40 + 40 * 2 + 30 * 2)
        let communicator = SingleProcessCommunicator()
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 1240)
        defer { buffer.deallocate() }
        var generator = RandomGenerator(seed: 9)
        var applied = [Double](repeating: 0, count: 1240), truth = applied
        for _ in 0..<6 {
            for i in 0..<1240 { buffer[i] = Float(generator.normalPair().0) }
            for i in 0..<1240 { truth[i] += Double(buffer[i]) }
            let bias = Array(buffer[1200..<1240])
            bucket.start(buffer, communicator: communicator).wait()
            bucket.exchangeQ(communicator: communicator).wait()
            bucket.finish(into: buffer, worldSize: 1)
            XCTAssertEqual(Array(buffer[1200..<1240]), bias, "biases travel uncompressed")
            for i in 0..<1240 { applied[i] += Double(buffer[i]) }
        }
        let gap = (0..<1240).map { abs(applied[$0] + Double(bucket.error[$0]) - truth[$0]) }.max()!
        XCTAssertLessThan(gap, 1e-4)

        // A rank-2 gradient, repeated: the error vanishes as Q converges to its row space.
        bucket.reset()
        let u = (0..<80).map { _ in Float(generator.normalPair().0) }, v = (0..<60).map { _ in Float(generator.normalPair().0) }
        var residual = Float.infinity
        for _ in 0..<4 {
            for r in 0..<40 { for c in 0..<30 { buffer[r * 30 + c] = u[r] * v[c] + u[40 + r] * v[30 + c] } }
            bucket.error.initialize(repeating: 0)
            bucket.start(buffer, communicator: communicator).wait()
            bucket.exchangeQ(communicator: communicator).wait()
            bucket.finish(into: buffer, worldSize: 1)
            residual = (0..<1200).map { abs(bucket.error[$0]) }.max()!
        }
        XCTAssertLessThan(residual, 1e-4, "a rank-2 matrix is recovered by rank-2 PowerSGD")
    }

    /// PyTorch's PowerSGD arithmetic (Tests/Golden/make-powersgd.py, with torch's own
    /// orthogonalisation: Gram–Schmidt at rank 2, QR at rank 3) for three steps with error feedback.
    func testThreeStepsMatchPyTorchsArithmetic() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Golden/powersgd.json")
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        for item in golden["cases"] as! [[String: Any]] {
            let rank = item["rank"] as! Int
            let bucket = PowerSGDBucket(parameters: [Tensor(zeros: [24, 3, 2, 2]), Tensor(zeros: [24])], offsets: [0, 288], count: 312,
                                        rank: rank, seed: 0)
            let q0 = (item["q0"] as! [Double]).map(Float.init)
            for i in 0..<q0.count { bucket.q[i] = q0[i] }
            PowerSGDBucket.orthonormalizeColumns(bucket.q.baseAddress!, rows: 12, columns: rank)
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 312)
            defer { buffer.deallocate() }
            let communicator = SingleProcessCommunicator()
            for (index, step) in (item["steps"] as! [[String: Any]]).enumerated() {
                let values = (step["weight"] as! [Double]) + (step["bias"] as! [Double])
                for i in 0..<312 { buffer[i] = Float(values[i]) }
                bucket.start(buffer, communicator: communicator).wait()
                bucket.exchangeQ(communicator: communicator).wait()
                bucket.finish(into: buffer, worldSize: 1)
                let expected = (step["applied_weight"] as! [Double]) + (step["applied_bias"] as! [Double])
                let scale = expected.map(abs).max()!
                let worst = (0..<312).map { abs(Double(buffer[$0]) - expected[$0]) }.max()!
                XCTAssertLessThan(worst, 1e-5 * scale, "rank \(rank), step \(index + 1): worst \(worst) of \(scale)")
            }
        }
    }

    /// A bucket of a bias alone has no factors: its state is the error only, and restores.
    func testStateOfABucketWithoutMatricesRestores() throws {
        let model = Sequential(Linear(16, 16), ReLU(), Linear(16, 4))
        let options = DataParallel.Options(firstBucketMiB: 16.0 / 1_048_576, compression: .powerSGD, powerSGDRank: 1,
                                           powerSGDWarmupSteps: 0)
        let ddp = try DataParallel(model: model, communicator: SingleProcessCommunicator(), options: options)
        XCTAssertEqual(ddp.bucketSizesInBytes.first, 16, "the last bias alone")
        let x = Tensor(filling: [2, 16], with: 0.5)
        crossEntropy(model(x), labels: [1, 2]).backward()
        ddp.finishGradientSynchronization()
        let state = ddp.compressionState()
        XCTAssertNil(state["powersgd.q.0"])
        XCTAssertNotNil(state["powersgd.q.1"])
        XCTAssertNotNil(state["powersgd.error.0.0"])
        let copy = try DataParallel(model: model, communicator: SingleProcessCommunicator(), options: options)
        XCTAssertNil(try copy.restoreCompressionState(state))
    }

    func testANonFiniteGradientResetsTheState() {
        let weight = Tensor(zeros: [16, 16])
        let bucket = PowerSGDBucket(parameters: [weight], offsets: [0], count: 256, rank: 1, seed: 3)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 256)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1)
        buffer[5] = .nan
        let communicator = SingleProcessCommunicator()
        bucket.start(buffer, communicator: communicator).wait()
        bucket.exchangeQ(communicator: communicator).wait()
        bucket.finish(into: buffer, worldSize: 1)
        XCTAssertTrue(buffer.contains { !$0.isFinite }, "the NaN reaches the gradient, where the step is skipped")
        XCTAssertTrue(bucket.error.allSatisfy { $0 == 0 } && bucket.q.allSatisfy(\.isFinite), "the state starts over")
    }
}
