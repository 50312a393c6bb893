import Autograd
import TestSupport
import XCTest

/// Finite-difference checks of every op's backward on tiny shapes.
final class GradientCheckTests: XCTestCase {
    func testConvolutions() {
        for (stride, padding, k) in [(1, 0, 1), (2, 0, 1), (1, 1, 3), (2, 1, 3), (2, 3, 7), (3, 2, 5)] {
            let x = testTensor([2, 3, 9, 8], seed: 1), w = testTensor([4, 3, k, k], seed: 2), b = testTensor([4], seed: 3)
            checkGradients("conv2d k\(k) s\(stride) p\(padding)", inputs: [x, w, b]) {
                conv2d($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding)
            }
        }
        for (stride, padding, k) in [(2, 0, 2), (1, 1, 3), (2, 1, 3)] {
            let x = testTensor([2, 3, 4, 5], seed: 4), w = testTensor([3, 2, k, k], seed: 5), b = testTensor([2], seed: 6)
            checkGradients("conv_transpose2d k\(k) s\(stride) p\(padding)", inputs: [x, w, b]) {
                convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding)
            }
        }
    }

    func testBatchNormTrainAndEval() {
        let x = testTensor([3, 2, 3, 3], seed: 7), w = testTensor([2], seed: 8), b = testTensor([2], seed: 9)
        checkGradients("batch_norm train", inputs: [x, w, b], eps: 1e-2, rtol: 3e-2) {
            batchNorm2d($0[0], weight: $0[1], bias: $0[2], runningMean: nil, runningVar: nil, training: true)
        }
        let mean = testTensor([2], seed: 10), variance = Tensor(shape: [2], data: [0.5, 2])
        checkGradients("batch_norm eval", inputs: [x, w, b]) {
            batchNorm2d($0[0], weight: $0[1], bias: $0[2], runningMean: mean, runningVar: variance, training: false)
        }
    }

    func testActivationsAndPooling() {
        let x = testTensor([2, 3, 6, 6], seed: 11, floor: 0.05)
        checkGradients("relu", inputs: [x]) { relu($0[0]) }
        checkGradients("sigmoid", inputs: [x]) { sigmoid($0[0]) }
        checkGradients("gelu", inputs: [x]) { gelu($0[0]) }
        // Distinct values, far apart, so no window has a near-tie.
        let distinct = Tensor(shape: [2, 3, 6, 6], data: (0..<216).map { Float(($0 * 37) % 216) * 0.05 })
        checkGradients("max_pool2d 2", inputs: [distinct]) { maxPool2d($0[0], kernel: 2) }
        checkGradients("max_pool2d 3/2/1", inputs: [distinct]) { maxPool2d($0[0], kernel: 3, stride: 2, padding: 1) }
        checkGradients("avg_pool2d 3/2/1", inputs: [x]) { avgPool2d($0[0], kernel: 3, stride: 2, padding: 1) }
        checkGradients("adaptive_avg_pool2d", inputs: [x]) { globalAvgPool2d($0[0]) }
        checkGradients("upsample_bilinear2d", inputs: [testTensor([1, 2, 3, 4], seed: 12)]) { upsampleBilinear($0[0], scale: 2) }
    }

    func testShapesAndArithmetic() {
        let a = testTensor([2, 3, 2, 2], seed: 13), b = testTensor([2, 2, 2, 2], seed: 14)
        checkGradients("cat dim 1", inputs: [a, b]) { cat($0, dim: 1) }
        checkGradients("narrow", inputs: [a]) { narrow($0[0], dim: 1, start: 1, length: 2) }
        checkGradients("permute", inputs: [a]) { $0[0].permuted([0, 2, 3, 1]) }
        checkGradients("reshape", inputs: [a]) { $0[0].reshaped([6, -1]) }
        let s = testTensor([2, 3, 1, 1], seed: 15), row = testTensor([1, 3, 2, 2], seed: 16)
        checkGradients("add broadcast", inputs: [a, row]) { $0[0] + $0[1] }
        checkGradients("sub broadcast", inputs: [a, s]) { $0[0] - $0[1] }
        checkGradients("mul broadcast (SE rescale)", inputs: [a, s]) { $0[0] * $0[1] }
        checkGradients("mul same shape", inputs: [a, testTensor([2, 3, 2, 2], seed: 17)]) { $0[0] * $0[1] }
        checkGradients("mul scalar, sum, mean", inputs: [a]) { ($0[0] * 3).sum() + $0[0].mean() }
        // Divisors at least 0.5 from zero (either sign), where finite differences stay accurate.
        checkGradients("div broadcast", inputs: [a, testTensor([2, 3, 1, 1], seed: 18, floor: 0.5)]) { $0[0] / $0[1] }
        checkGradients("div same shape", inputs: [a, testTensor([2, 3, 2, 2], seed: 19, floor: 0.5)]) { $0[0] / $0[1] }
        checkGradients("div broadcast dividend", inputs: [s, testTensor([2, 3, 2, 2], seed: 20, floor: 0.5)]) { $0[0] / $0[1] }
    }

    func testDenseOps() {
        let x = testTensor([2, 3, 5], seed: 18), w = testTensor([4, 5], seed: 19), b = testTensor([4], seed: 20)
        checkGradients("linear", inputs: [x, w, b]) { linear($0[0], weight: $0[1], bias: $0[2]) }
        checkGradients("softmax", inputs: [x]) { softmax($0[0]) }
        let g = testTensor([5], seed: 21), h = testTensor([5], seed: 22)
        checkGradients("layer_norm", inputs: [x, g, h], rtol: 3e-2) { layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        let qkv = testTensor([2, 4, 12], seed: 23)
        checkGradients("attention", inputs: [qkv]) { selfAttention(packed: $0[0], heads: 2) }
    }

    func testLosses() {
        let logits = testTensor([4, 5], seed: 24)
        checkGradients("cross_entropy", inputs: [logits]) { crossEntropy($0[0], labels: [0, 3, 4, 1]) }
        checkGradients("cross_entropy smoothing", inputs: [logits]) {
            crossEntropy($0[0], labels: [0, 3, -100, 1], labelSmoothing: 0.1)
        }
        let map = testTensor([2, 3, 2, 2], seed: 25)
        checkGradients("cross_entropy 2d", inputs: [map]) { crossEntropy($0[0], labels: [0, 1, 2, 1, 2, 0, 0, 1]) }
    }
}
