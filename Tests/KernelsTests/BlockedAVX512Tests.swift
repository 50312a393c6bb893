@testable import Kernels
import XCTest

/// The AVX-512 builds of the bf16 blocked passes (`CBlockedAVX512`) against the portable Swift
/// passes, bit for bit: the same operations in the same order, on values that include NaN,
/// infinities, −0, subnormals and rounding ties, over more pixels than one float32 partial sum
/// (256) covers. A CPU without AVX-512F has only the portable passes (`BlockedKernelTests`).
final class BlockedAVX512Tests: XCTestCase {
    let g = BlockedBatchNormKernel.Geometry(batch: 2, channels: 32, plane: 300, element: .bf16)
    var count: Int { g.batch * g.channels * g.plane }

    override func setUpWithError() throws {
        guard VectorISA.detected == .avx512 else {
            print("BlockedAVX512Tests: skipped, this CPU has no AVX-512F (only the portable passes run here)")
            throw XCTSkip("this CPU has no AVX-512F")
        }
    }

    /// bf16 bit patterns: mostly ordinary values, one in 40 special (`finite`: no NaN or
    /// infinity, which would make every per-channel sum they reach NaN and hide the rest).
    func values(seed: UInt64, scale: Float = 2, finite: Bool = false) -> [UInt16] {
        let specials: [Float] = [-0.0, 0, Float.leastNormalMagnitude / 4, -Float.leastNormalMagnitude / 3, 1 + 1.0 / 256,
                                 1 + 3.0 / 256] + (finite ? [] : [.nan, .infinity, -.infinity, 3.3e38])
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { i in
            let v = i % 40 == 7 ? specials[(i / 40) % specials.count] : Float(rng.uniform() * 2 - 1) * scale
            return BFloat16.bits(v)
        }
    }

    func factors(seed: UInt64, offset: Float) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<g.channels).map { _ in Float(rng.uniform()) + offset }
    }

    /// `body`'s result with the portable passes and with the AVX-512 builds.
    func both<T>(_ body: () -> T) -> (portable: T, avx512: T) {
        (VectorISA.with(.portable, body), VectorISA.with(.avx512, body))
    }

    func assertSameBits(_ a: [Double], _ b: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), what, file: file, line: line)
    }

    func testBatchNormForwardPassesGiveTheSameBits() {
        let x = values(seed: 1)
        let (mean, invStd) = (factors(seed: 2, offset: -0.5), factors(seed: 3, offset: 0.5))
        let (weight, bias) = (factors(seed: 4, offset: 0.5), factors(seed: 5, offset: -0.5))
        let sums = both { () -> [Double] in
            var s = [Double](repeating: 0, count: g.channels), q = s
            BlockedBatchNormKernel.statistics(x: x, g, sum: &s, sumSquares: &q)
            return s + q
        }
        assertSameBits(sums.portable, sums.avx512, "Σx, Σx²")
        for relu in [false, true] {
            let y = both { () -> [UInt16] in
                var y = [UInt16](repeating: 0, count: count)
                BlockedBatchNormKernel.normalize(x: x, g, mean: mean, invStd: invStd, weight: weight, bias: bias, relu: relu, y: &y)
                return y
            }
            XCTAssertEqual(y.portable, y.avx512, "normalize, relu \(relu)")
        }
    }

    func testBatchNormBackwardPassesGiveTheSameBits() {
        let (x, dy, saved) = (values(seed: 6, finite: true), values(seed: 7, scale: 0.01, finite: true), values(seed: 8))
        let (mean, invStd, weight) = (factors(seed: 9, offset: -0.5), factors(seed: 10, offset: 0.5), factors(seed: 11, offset: 0.5))
        for reluOutput in [nil, saved] {
            let sums = both { () -> [Double] in
                var s = [Double](repeating: 0, count: g.channels), q = s
                BlockedBatchNormKernel.backwardReduce(dy: dy, x: x, g, mean: mean, reluOutput: reluOutput, sumDy: &s, sumDyXmu: &q)
                return s + q
            }
            assertSameBits(sums.portable, sums.avx512, "Σdy, Σdy·(x − mean), relu \(reluOutput != nil)")
            XCTAssertTrue(sums.portable.allSatisfy(\.isFinite), "finite sums, so that dx is compared on numbers")
            let (sumDy, sumDyXmu) = (Array(sums.portable[..<g.channels]), Array(sums.portable[g.channels...]))
            let dx = both { () -> [UInt16] in
                var dx = [UInt16](repeating: 0, count: count)
                BlockedBatchNormKernel.backwardInput(dy: dy, x: x, g, mean: mean, invStd: invStd, weight: weight,
                                                     reluOutput: reluOutput, sumDy: sumDy, sumDyXmu: sumDyXmu,
                                                     count: Double(g.batch * g.plane), dx: &dx)
                return dx
            }
            XCTAssertEqual(dx.portable, dx.avx512, "dx, relu \(reluOutput != nil)")
        }
    }

    func testElementwisePassesGiveTheSameBits() {
        let (a, b) = (values(seed: 12), values(seed: 13))
        let added = both { () -> [UInt16] in
            var y = [UInt16](repeating: 0, count: count)
            BlockedElementwiseKernel.addReLU(.bf16, a, b, &y, count: count)
            return y
        }
        XCTAssertEqual(added.portable, added.avx512, "add + relu")
        let accumulated = both { () -> [UInt16] in
            var y = b
            BlockedElementwiseKernel.accumulate(.bf16, a, into: &y, count: count)
            return y
        }
        XCTAssertEqual(accumulated.portable, accumulated.avx512, "y += x")
        let passed = both { () -> [UInt16] in
            var dx = [UInt16](repeating: 0, count: count)
            BlockedElementwiseKernel.reluBackward(.bf16, y: a, dy: b, dx: &dx, count: count)
            return dx
        }
        XCTAssertEqual(passed.portable, passed.avx512, "relu backward")
        XCTAssertTrue(passed.portable.contains(0) && passed.portable != b, "the mask zeroes some gradients and keeps others")
    }
}
