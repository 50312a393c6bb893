import CDNNL
@testable import Kernels
import XCTest

/// The kernels on blocked tensors (`TensorFormat.blocked`) against the plain ones, and the bf16
/// lanes they load and store through.
final class BlockedKernelTests: XCTestCase {
    func testBF16LanesRoundLikeBFloat16AndKeepTheirOrder() {
        let specials: [Float] = [1, 1 + 1.0 / 256, 1 + 3.0 / 256, -Float.leastNormalMagnitude / 5, .nan, .infinity, -.infinity, 3.4e38,
                                 -0.0, 1.00390625, 65504, Float.leastNormalMagnitude / 9, .greatestFiniteMagnitude, -1.5, 0.1, 7]
        var bits = [UInt16](repeating: 0, count: 16)
        // Whatever the lane order, storing what was loaded puts every value back in its place.
        let source = specials.map { BFloat16.bits($0) }
        source.withUnsafeBytes { src in
            bits.withUnsafeMutableBytes { dst in
                let v = BFloat16Lanes.load(src.baseAddress!, 0)
                for lane in 0..<16 {
                    let expected = Float(bitPattern: UInt32(source[BFloat16Lanes.channel(lane)]) << 16)
                    XCTAssertEqual(v[lane].bitPattern, expected.bitPattern, "lane \(lane)")
                }
                BFloat16Lanes.store(dst.baseAddress!, 0, v)
            }
        }
        XCTAssertEqual(bits, source)
        // Stores round to nearest even, NaN stays NaN, as BFloat16.bits does.
        var lanes = SIMD16<Float>()
        for lane in 0..<16 { lanes[lane] = specials[BFloat16Lanes.channel(lane)] }
        bits.withUnsafeMutableBytes { BFloat16Lanes.store($0.baseAddress!, 0, lanes) }
        for (i, x) in specials.enumerated() {
            XCTAssertEqual(bits[i], BFloat16.bits(x), "\(x)")
        }
        XCTAssertEqual(specials.indices.map { BFloat16Lanes.channel($0) }.sorted(), Array(0..<16))
    }

    /// NCHW → N, C/16, H, W, 16.
    func blocked(_ plain: [Float], batch: Int, channels: Int, plane: Int) -> [Float] {
        var out = plain
        for n in 0..<batch { for c in 0..<channels { for i in 0..<plane {
            out[((n * channels / 16 + c / 16) * plane + i) * 16 + c % 16] = plain[(n * channels + c) * plane + i]
        } } }
        return out
    }

    func testBatchNormPassesMatchThePlainKernels() {
        let (n, c, plane) = (3, 32, 7)
        let count = n * c * plane
        var rng = RandomGenerator(seed: 4)
        let x = (0..<count).map { _ in Float(rng.uniform() * 4 - 1) }, dy = (0..<count).map { _ in Float(rng.uniform() * 2 - 1) }
        let mean = (0..<c).map { _ in Float(rng.uniform()) }, invStd = (0..<c).map { _ in Float(rng.uniform() + 0.5) }
        let weight = (0..<c).map { _ in Float(rng.uniform() + 0.5) }, bias = (0..<c).map { _ in Float(rng.uniform() - 0.5) }
        var s = [Double](repeating: 0, count: c), q = s, bs = s, bq = s
        BatchNormKernel.statistics(x: x, batch: n, channels: c, plane: plane, sum: &s, sumSquares: &q)
        let g = BlockedBatchNormKernel.Geometry(batch: n, channels: c, plane: plane, element: .f32)
        let bx = blocked(x, batch: n, channels: c, plane: plane), bdy = blocked(dy, batch: n, channels: c, plane: plane)
        BlockedBatchNormKernel.statistics(x: bx, g, sum: &bs, sumSquares: &bq)
        for i in 0..<c {
            XCTAssertEqual(bs[i], s[i], accuracy: 1e-4, "Σx channel \(i)")
            XCTAssertEqual(bq[i], q[i], accuracy: 1e-4, "Σx² channel \(i)")
        }
        for relu in [false, true] {
            var y = [Float](repeating: 0, count: count), by = y
            BatchNormKernel.normalize(x: x, batch: n, channels: c, plane: plane, mean: mean, invStd: invStd, weight: weight,
                                      bias: bias, relu: relu, y: &y)
            BlockedBatchNormKernel.normalize(x: bx, g, mean: mean, invStd: invStd, weight: weight, bias: bias, relu: relu, y: &by)
            XCTAssertEqual(by, blocked(y, batch: n, channels: c, plane: plane), "normalize relu \(relu)")
            let saved: [Float]? = relu ? y : nil, blockedSaved: [Float]? = relu ? by : nil
            BatchNormKernel.backwardReduce(dy: dy, x: x, batch: n, channels: c, plane: plane, mean: mean, reluOutput: saved,
                                           sumDy: &s, sumDyXmu: &q)
            BlockedBatchNormKernel.backwardReduce(dy: bdy, x: bx, g, mean: mean, reluOutput: blockedSaved, sumDy: &bs, sumDyXmu: &bq)
            for i in 0..<c {
                XCTAssertEqual(bs[i], s[i], accuracy: 1e-4, "Σdy channel \(i)")
                XCTAssertEqual(bq[i], q[i], accuracy: 1e-4, "Σdy(x−μ) channel \(i)")
            }
            var dx = [Float](repeating: 0, count: count), bdx = dx
            BatchNormKernel.backwardInput(dy: dy, x: x, batch: n, channels: c, plane: plane, mean: mean, invStd: invStd,
                                          weight: weight, reluOutput: saved, sumDy: s, sumDyXmu: q, count: 21, dx: &dx)
            BlockedBatchNormKernel.backwardInput(dy: bdy, x: bx, g, mean: mean, invStd: invStd, weight: weight,
                                                 reluOutput: blockedSaved, sumDy: s, sumDyXmu: q, count: 21, dx: &bdx)
            for (a, b) in zip(bdx, blocked(dx, batch: n, channels: c, plane: plane)) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            BatchNormKernel.backwardInputEval(dy: dy, batch: n, channels: c, plane: plane, invStd: invStd, weight: weight,
                                              reluOutput: saved, dx: &dx)
            BlockedBatchNormKernel.backwardInputEval(dy: bdy, g, invStd: invStd, weight: weight, reluOutput: blockedSaved, dx: &bdx)
            XCTAssertEqual(bdx, blocked(dx, batch: n, channels: c, plane: plane), "eval-mode dx relu \(relu)")
        }
    }

    /// bf16 blocked batch norm: the values of the float32 pass, each rounded to bf16 (inputs
    /// taken already rounded, so both passes see the same operands).
    func testBF16BatchNormIsTheFloat32PassRounded() {
        let (n, c, plane) = (2, 16, 9)
        let count = n * c * plane
        var rng = RandomGenerator(seed: 8)
        let x = (0..<count).map { _ in BFloat16.round(Float(rng.uniform() * 4 - 1)) }
        let mean = [Float](repeating: 0.25, count: c), invStd = [Float](repeating: 1.5, count: c)
        let g32 = BlockedBatchNormKernel.Geometry(batch: n, channels: c, plane: plane, element: .f32)
        var y32 = [Float](repeating: 0, count: count)
        BlockedBatchNormKernel.normalize(x: x, g32, mean: mean, invStd: invStd, weight: nil, bias: nil, relu: true, y: &y32)
        let x16 = x.map { BFloat16.bits($0) }
        var y16 = [UInt16](repeating: 0, count: count)
        let g16 = BlockedBatchNormKernel.Geometry(batch: n, channels: c, plane: plane, element: .bf16)
        BlockedBatchNormKernel.normalize(x: x16, g16, mean: mean, invStd: invStd, weight: nil, bias: nil, relu: true, y: &y16)
        XCTAssertEqual(y16, y32.map { BFloat16.bits($0) })
        var s32 = [Double](repeating: 0, count: c), q32 = s32, s16 = s32, q16 = s32
        BlockedBatchNormKernel.statistics(x: x, g32, sum: &s32, sumSquares: &q32)
        BlockedBatchNormKernel.statistics(x: x16, g16, sum: &s16, sumSquares: &q16)
        XCTAssertEqual(s16, s32)
        XCTAssertEqual(q16, q32)
    }

    /// Our accumulation of oneDNN's `OIhw16i16o` weight gradients into plain `[O, I, kh, kw]`
    /// against oneDNN's own reorder with a sum, bit for bit (one float32 addition each), for
    /// channel counts that fill the 16×16 tiles and ones that leave them padded.
    func testBlockedWeightGradientAddsAsOneDNNsReorderDoes() throws {
        guard OneDNN.engine != nil else { throw XCTSkip("oneDNN did not start on this machine") }
        var rng = RandomGenerator(seed: 5)
        for dims in [[32, 16, 3, 3], [64, 48, 1, 1], [20, 3, 7, 7], [16, 40, 1, 3]] {
            guard let blockedDesc = OneDNN.taggedDesc(dims, .f32, dnnl_ABcd16b16a), let plainDesc = OneDNN.plainDesc(dims, .f32),
                  let reorder = OneDNNReorder(from: blockedDesc, to: plainDesc, accumulate: true) else {
                return XCTFail("oneDNN made no reorder for \(dims)")
            }
            // Padding included, as the primitive leaves it: whatever is there must not be read into ours.
            let blocked = (0..<(OneDNN.bytes(blockedDesc) / 4)).map { _ in Float(rng.uniform() * 2 - 1) }
            let start = (0..<dims.reduce(1, *)).map { _ in Float(rng.uniform() * 2 - 1) }
            var ours = start, theirs = start
            blocked.withUnsafeBufferPointer { b in
                ours.withUnsafeMutableBufferPointer { o in
                    BlockedWeightGradient.accumulate(b.baseAddress!, into: o.baseAddress!, outChannels: dims[0],
                                                     inChannels: dims[1], spatial: dims[2] * dims[3])
                }
                theirs.withUnsafeMutableBytes { XCTAssertTrue(reorder.run(UnsafeRawPointer(b.baseAddress!), $0.baseAddress!, threads: 1)) }
            }
            let differing = zip(ours, theirs).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(dims): \(differing) of \(ours.count) values differ")
            XCTAssertNotEqual(ours, start, "\(dims): nothing was added")
        }
    }
}
