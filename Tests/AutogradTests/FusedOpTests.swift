import XCTest
@testable import Autograd

/// The fused ops give exactly what the ops they replace give: the same float operations in
/// one pass instead of two.
final class FusedOpTests: XCTestCase {
    private func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var state = seed
        let count = shape.reduce(1, *)
        let values = (0..<count).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(state >> 40) % 2001 - 1000) / 500
        }
        return Tensor(shape: shape, data: values)
    }

    /// `batch_norm` then `relu`, and `batch_norm(relu: true)`, in training and eval mode: the
    /// same output, running statistics and gradients of the input, weight and bias, bit for bit.
    func testBatchNormReLUMatchesBatchNormThenReLU() {
        for training in [true, false] {
            func run(fused: Bool) -> [[Float]] {
                let x = random([3, 4, 5, 6], seed: 1), upstream = random([3, 4, 5, 6], seed: 2)
                let weight = random([4], seed: 3), bias = random([4], seed: 4)
                let runningMean = Tensor(zeros: [4]), runningVar = Tensor(filling: [4], with: 1.5)
                for t in [x, weight, bias] { t.requiresGrad = true }
                let y = fused
                    ? batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                  training: training, relu: true)
                    : relu(batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                       training: training))
                (y * upstream).sum().backward()
                return [y.toArray(), runningMean.toArray(), runningVar.toArray(),
                        x.grad!.toArray(), weight.grad!.toArray(), bias.grad!.toArray()]
            }
            let (fused, apart) = (run(fused: true), run(fused: false))
            XCTAssertEqual(fused, apart, "training \(training)")
            XCTAssertTrue(apart[0].contains(0) && apart[0].contains { $0 > 0 }, "some outputs are clamped, some pass")
        }
    }

    /// `add_relu(a, b)` against `relu(a + b)`; operands of different shapes fall back to the two
    /// ops, checked here against the sums written out (a [2, 3, 4] plus b [3, 1] broadcast).
    func testAddReLUMatchesAddThenReLU() {
        func run(_ shapes: ([Int], [Int]), fused: Bool) -> [[Float]] {
            let a = random(shapes.0, seed: 5), b = random(shapes.1, seed: 6), upstream = random(shapes.0, seed: 7)
            a.requiresGrad = true
            b.requiresGrad = true
            let y = fused ? addReLU(a, b) : relu(a + b)
            (y * upstream).sum().backward()
            return [y.toArray(), a.grad!.toArray(), b.grad!.toArray()]
        }
        XCTAssertEqual(run(([2, 3, 4], [2, 3, 4]), fused: true), run(([2, 3, 4], [2, 3, 4]), fused: false))
        let (a, b, up) = (random([2, 3, 4], seed: 5).toArray(), random([3, 1], seed: 6).toArray(), random([2, 3, 4], seed: 7).toArray())
        var y = [Float](repeating: 0, count: 24), da = y, db = [Float](repeating: 0, count: 3)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 {
            let p = (i * 3 + j) * 4 + k, sum = a[p] + b[j]
            y[p] = max(sum, 0)
            da[p] = sum > 0 ? up[p] : 0
            db[j] += da[p]
        } } }
        let got = run(([2, 3, 4], [3, 1]), fused: true)
        XCTAssertEqual(got[0], y)
        XCTAssertEqual(got[1], da)
        for j in 0..<3 { XCTAssertEqual(got[2][j], db[j], accuracy: 1e-6) }
        // Only the operand that needs a gradient gets one.
        let constant = random([4], seed: 8), trained = random([4], seed: 9)
        trained.requiresGrad = true
        addReLU(constant, trained).sum().backward()
        XCTAssertNil(constant.grad)
        XCTAssertNotNil(trained.grad)
    }
}
