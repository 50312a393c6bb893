@testable import Kernels
import XCTest

final class KernelTests: XCTestCase {
    func random(_ n: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<n).map { _ in Float(rng.uniform() * 2 - 1) }
    }

    /// The gradient buckets' unpack: scaled in place, the sum of squares, and one NaN or ±Inf anywhere (tails included) seen.
    func testScaleCheckingFinite() {
        for count in [0, 5, 16, 1000, 1037, 4133] {
            var x = (0..<count).map { Float($0 % 17) - 8 }
            let (finite, squares) = x.withUnsafeMutableBufferPointer {
                ElementwiseKernel.scaleCheckingFinite($0.baseAddress!, count: count, by: 0.5)
            }
            XCTAssertTrue(finite)
            XCTAssertEqual(x, (0..<count).map { (Float($0 % 17) - 8) * 0.5 })
            XCTAssertEqual(squares, x.reduce(0.0) { $0 + Double($1 * $1) }, accuracy: 1e-9)
            for bad in [Float.nan, .infinity, -.infinity] where count > 0 {
                for at in Set([0, count / 2, count - 1]) {
                    var y = [Float](repeating: 1, count: count)
                    y[at] = bad
                    let result = y.withUnsafeMutableBufferPointer { ElementwiseKernel.scaleCheckingFinite($0.baseAddress!, count: count, by: 2) }
                    XCTAssertFalse(result.finite, "\(bad) at \(at) of \(count)")
                }
            }
        }
    }

    func testSgemmAgainstNaiveProduct() {
        for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
            let (m, n, k) = (7, 5, 9)
            let a = random(m * k, seed: 1), b = random(k * n, seed: 2)
            var c = [Float](repeating: 0, count: m * n)
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: transA ? m : k,
                       b: b, ldb: transB ? k : n, c: &c, ldc: n)
            for i in 0..<m {
                for j in 0..<n {
                    var expected: Float = 0
                    for p in 0..<k { expected += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]) }
                    XCTAssertEqual(c[i * n + j], expected, accuracy: 1e-5)
                }
            }
        }
    }

    /// col2im is the adjoint of im2col: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for every geometry.
    func testCol2imIsTheAdjointOfIm2col() {
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (7, 2, 3), (1, 2, 0), (2, 2, 0), (5, 3, 2)] {
            let g = WindowGeometry(channels: 3, height: 9, width: 8, kernelH: k, kernelW: k, strideH: s, strideW: s, padH: p, padW: p)
            let x = random(3 * 9 * 8, seed: 3), c = random(g.columnRows * g.columnCols, seed: 4)
            var cols = [Float](repeating: 0, count: c.count)
            im2col(x, g, &cols)
            var back = [Float](repeating: 0, count: x.count)
            col2im(c, g, &back)
            let lhs = zip(cols, c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(abs(lhs), 1), "k\(k) s\(s) p\(p)")
        }
    }

    func testConvForwardAgainstDirectLoop() {
        let s = Conv2dShape(batch: 2, inChannels: 3, height: 7, width: 6, outChannels: 4, kernelH: 3, kernelW: 3,
                            strideH: 2, strideW: 2, padH: 1, padW: 1)
        let x = random(s.inputCount, seed: 5), w = random(s.weightCount, seed: 6), bias = random(4, seed: 7)
        var y = [Float](repeating: 0, count: s.outputCount)
        var workspace = [Float](repeating: 0, count: Conv2dKernel.workspaceCount(s))
        Conv2dKernel.forward(s, x: x, weight: w, bias: bias, y: &y, workspace: &workspace)
        for n in 0..<2 { for o in 0..<4 { for oy in 0..<s.outH { for ox in 0..<s.outW {
            var expected = bias[o]
            for c in 0..<3 { for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx
                if iy >= 0 && iy < 7 && ix >= 0 && ix < 6 {
                    expected += x[((n * 3 + c) * 7 + iy) * 6 + ix] * w[((o * 3 + c) * 3 + ky) * 3 + kx]
                }
            } } }
            XCTAssertEqual(y[((n * 4 + o) * s.outH + oy) * s.outW + ox], expected, accuracy: 1e-5)
        } } } }
    }

    /// An empty batch (a rank whose shard ran out) leaves the output empty and the accumulated
    /// weight gradient as it was, through im2col and through Winograd.
    func testConvolutionOfAnEmptyBatch() {
        for (channels, stride) in [(16, 1), (4, 2)] {
            let s = Conv2dShape(batch: 0, inChannels: channels, height: 6, width: 6, outChannels: channels, kernelH: 3, kernelW: 3,
                                strideH: stride, strideW: stride, padH: 1, padW: 1)
            XCTAssertEqual(Winograd.applies(s), stride == 1)
            let w = random(s.weightCount, seed: 1)
            var dw = [Float](repeating: 0.5, count: s.weightCount)
            var ws = [Float](repeating: .nan, count: max(Conv2dKernel.backwardWorkspaceCount(s), 1))
            var none: [Float] = []
            Conv2dKernel.forward(s, x: none, weight: w, bias: nil, y: &none, workspace: &ws)
            Conv2dKernel.backward(s, x: none, weight: w, dy: none, dx: &none, dWeight: &dw, dBias: nil, workspace: &ws)
            XCTAssertEqual(dw, [Float](repeating: 0.5, count: s.weightCount), "stride \(stride)")
        }
    }

    /// 3x3 stride-1 convolutions with enough channels go through Winograd F(2x2, 3x3) or
    /// F(4x4, 3x3), forward, input and weight gradient; odd sizes give tiles cut at the edges.
    func testWinogradConvolutionAgainstDirectLoops() {
        let savedThreads = Parallel.threadCount
        let saved = (WinogradSchedule.tileTarget, WinogradSchedule.minimumTilesAlone)
        defer {
            Parallel.threadCount = savedThreads
            (WinogradSchedule.tileTarget, WinogradSchedule.minimumTilesAlone) = saved
        }
        var tilesSeen: Set<Int> = []
        var schedulesSeen: Set<String> = []
        // As tuned; then groups of a few tiles, run by each worker alone, or each on all workers.
        for (tileTarget, minimumTilesAlone) in [saved, (8, 1), (8, Int.max)] {
        (WinogradSchedule.tileTarget, WinogradSchedule.minimumTilesAlone) = (tileTarget, minimumTilesAlone)
        for (threads, height, width) in [(1, 7, 9), (2, 8, 6), (2, 3, 3), (1, 28, 28), (2, 2, 10), (1, 5, 5), (2, 14, 13)] {
            Parallel.threadCount = threads
            let s = Conv2dShape(batch: 3, inChannels: 16, height: height, width: width, outChannels: 20, kernelH: 3, kernelW: 3,
                                padH: 1, padW: 1)
            XCTAssertTrue(Winograd.applies(s))
            tilesSeen.insert(Winograd.tile(for: s).m)
            for pass in Conv2dKernel.WinogradPass.allCases {
                let schedule = pass.schedule(s)
                let groups = (s.batch + schedule.images - 1) / schedule.images
                schedulesSeen.insert("\(schedule.workers > 1 ? "alone" : "together"), \(groups > schedule.workers ? "several" : "one") each")
            }
            let x = random(s.inputCount, seed: 21), w = random(s.weightCount, seed: 22), dy = random(s.outputCount, seed: 23)
            let bias = random(20, seed: 24)
            var y = [Float](repeating: 0, count: s.outputCount), dx = [Float](repeating: 0, count: s.inputCount)
            var ws = [Float](repeating: .nan, count: Conv2dKernel.backwardWorkspaceCount(s))
            Conv2dKernel.forward(s, x: x, weight: w, bias: bias, y: &y, workspace: &ws)
            // dWeight is accumulated into.
            var dw = [Float](repeating: 0.5, count: s.weightCount)
            Conv2dKernel.backward(s, x: x, weight: w, dy: dy, dx: &dx, dWeight: &dw, dBias: nil, workspace: &ws)
            // Without dx, the weight gradient alone (as for a network's first layer).
            var dwAlone = [Float](repeating: 0, count: s.weightCount)
            Conv2dKernel.backward(s, x: x, weight: w, dy: dy, dx: nil, dWeight: &dwAlone, dBias: nil, workspace: &ws)
            func at(_ n: Int, _ c: Int, _ iy: Int, _ ix: Int, channels: Int) -> Int { ((n * channels + c) * height + iy) * width + ix }
            var worst: Float = 0
            for n in 0..<3 { for o in 0..<20 { for oy in 0..<height { for ox in 0..<width {
                var expected = bias[o]
                for c in 0..<16 { for ky in 0..<3 { for kx in 0..<3 {
                    let (iy, ix) = (oy - 1 + ky, ox - 1 + kx)
                    if iy >= 0 && iy < height && ix >= 0 && ix < width {
                        expected += x[at(n, c, iy, ix, channels: 16)] * w[((o * 16 + c) * 3 + ky) * 3 + kx]
                    }
                } } }
                worst = max(worst, abs(y[at(n, o, oy, ox, channels: 20)] - expected))
            } } } }
            XCTAssertLessThan(worst, 1e-4, "forward \(height)x\(width), \(threads) threads")
            worst = 0
            for n in 0..<3 { for c in 0..<16 { for iy in 0..<height { for ix in 0..<width {
                var expected: Float = 0
                for o in 0..<20 { for ky in 0..<3 { for kx in 0..<3 {
                    let (oy, ox) = (iy + 1 - ky, ix + 1 - kx)
                    if oy >= 0 && oy < height && ox >= 0 && ox < width {
                        expected += dy[at(n, o, oy, ox, channels: 20)] * w[((o * 16 + c) * 3 + ky) * 3 + kx]
                    }
                } } }
                worst = max(worst, abs(dx[at(n, c, iy, ix, channels: 16)] - expected))
            } } } }
            XCTAssertLessThan(worst, 1e-4, "input gradient \(height)x\(width), \(threads) threads")
            worst = 0
            for o in 0..<20 { for c in 0..<16 { for ky in 0..<3 { for kx in 0..<3 {
                var expected: Float = 0
                for n in 0..<3 { for oy in 0..<height { for ox in 0..<width {
                    let (iy, ix) = (oy - 1 + ky, ox - 1 + kx)
                    if iy >= 0 && iy < height && ix >= 0 && ix < width {
                        expected += dy[at(n, o, oy, ox, channels: 20)] * x[at(n, c, iy, ix, channels: 16)]
                    }
                } } }
                let index = ((o * 16 + c) * 3 + ky) * 3 + kx
                worst = max(worst, abs(dw[index] - 0.5 - expected), abs(dwAlone[index] - expected))
            } } } }
            XCTAssertLessThan(worst, 2e-4 * Float(height * width).squareRoot(), "weight gradient \(height)x\(width), \(threads) threads")
        }
        }
        XCTAssertEqual(tilesSeen, [2, 4], "both F(2x2, 3x3) and F(4x4, 3x3) are exercised")
        XCTAssertTrue(schedulesSeen.isSuperset(of: ["alone, several each", "together, one each", "together, several each"]),
                      "\(schedulesSeen)")
    }

    /// Several images in one sgemm, and groups spread over worker threads (each with its own
    /// scratch space and weight-gradient partial sum), give what one sgemm per image gives.
    func testGroupedConvolutionMatchesOneImageAtATime() {
        let savedThreads = Parallel.threadCount
        defer { Parallel.threadCount = savedThreads }
        for threads in [1, 2, 3] {
            Parallel.threadCount = threads
            // Batches of 3 on 2 or 3 threads end with an uneven (or no) last group.
            for (k, stride, pad, batch, side) in [(3, 1, 1, 3, 6), (1, 1, 0, 3, 6), (1, 2, 0, 3, 6), (3, 2, 1, 3, 6), (3, 1, 1, 8, 28), (1, 1, 0, 8, 28)] {
                let s = Conv2dShape(batch: batch, inChannels: 4, height: side, width: side, outChannels: 5, kernelH: k, kernelW: k,
                                    strideH: stride, strideW: stride, padH: pad, padW: pad)
                let perThread = (batch + threads - 1) / threads
                let group = Conv2dKernel.groupSize(s)
                XCTAssertLessThanOrEqual(group, min(side == 28 ? 6 : 3, perThread))
                // 8 images of 28x28 at up to six per sgemm: two equal groups of 4; a 1x1
                // stride-1 conv of a plane that large takes one image at a time.
                let identity = k == 1 && stride == 1
                if threads == 1 { XCTAssertEqual(group, side == 28 ? (identity ? 1 : 4) : 3) }
                checkAgainstOneImageAtATime(s, label: "k\(k) s\(stride) \(threads) threads")
            }
        }
    }

    private func checkAgainstOneImageAtATime(_ s: Conv2dShape, label: String) {
        var one = s
        one.batch = 1
        let x = random(s.inputCount, seed: 11), w = random(s.weightCount, seed: 12), dy = random(s.outputCount, seed: 13)
        var y = [Float](repeating: 0, count: s.outputCount), dx = [Float](repeating: 0, count: s.inputCount)
        // dWeight is accumulated into, by every worker.
        var dw = [Float](repeating: 0.5, count: s.weightCount)
        var ws = [Float](repeating: .nan, count: max(Conv2dKernel.backwardWorkspaceCount(s), 1))
        Conv2dKernel.forward(s, x: x, weight: w, bias: nil, y: &y, workspace: &ws)
        Conv2dKernel.backward(s, x: x, weight: w, dy: dy, dx: &dx, dWeight: &dw, dBias: nil, workspace: &ws)
        var dwOne = [Float](repeating: 0.5, count: s.weightCount)
        var ws1 = [Float](repeating: .nan, count: max(Conv2dKernel.backwardWorkspaceCount(one), 1))
        let (inSize, outSize) = (one.inputCount, one.outputCount)
        for n in 0..<s.batch {
            var y1 = [Float](repeating: 0, count: outSize), dx1 = [Float](repeating: 0, count: inSize)
            let x1 = Array(x[(n * inSize)..<((n + 1) * inSize)]), dy1 = Array(dy[(n * outSize)..<((n + 1) * outSize)])
            Conv2dKernel.forward(one, x: x1, weight: w, bias: nil, y: &y1, workspace: &ws1)
            Conv2dKernel.backward(one, x: x1, weight: w, dy: dy1, dx: &dx1, dWeight: &dwOne, dBias: nil, workspace: &ws1)
            for i in 0..<outSize { XCTAssertEqual(y[n * outSize + i], y1[i], accuracy: 1e-5, "\(label) y") }
            for i in 0..<inSize { XCTAssertEqual(dx[n * inSize + i], dx1[i], accuracy: 1e-5, "\(label) dx") }
        }
        for i in 0..<s.weightCount { XCTAssertEqual(dw[i], dwOne[i], accuracy: 1e-4, "\(label) dw") }
    }

    /// The 3x3 stride-2 pad-1 max pool's vector path picks the same winner as a plain scan: the
    /// first maximum in row-major order (ties are common here: values are rounded to quarters),
    /// NaN propagating, −∞ inputs winning over padding.
    func testStemMaxPoolMatchesPlainScan() {
        for (h, w) in [(7, 9), (8, 8), (1, 1), (2, 3), (16, 21), (5, 40)] {
            let s = Pool2dShape(batch: 2, channels: 3, height: h, width: w, kernel: 3, stride: 2, padding: 1)
            var x = random(s.inputCount, seed: 31).map { ($0 * 4).rounded() / 4 }
            x[x.count / 3] = .nan
            x[x.count / 2] = -.infinity
            var y = [Float](repeating: 0, count: s.outputCount), argmax = [Int32](repeating: -1, count: s.outputCount)
            PoolKernel.maxForward(s, x: x, y: &y, argmax: &argmax)
            for p in 0..<s.planes { for oy in 0..<s.outH { for ox in 0..<s.outW {
                var best = -Float.infinity, at = -1
                for iy in max(2 * oy - 1, 0)..<min(2 * oy + 2, h) { for ix in max(2 * ox - 1, 0)..<min(2 * ox + 2, w) {
                    let v = x[p * h * w + iy * w + ix]
                    if at < 0 || v > best || (v.isNaN && !best.isNaN) { best = v; at = iy * w + ix }
                } }
                let o = (p * s.outH + oy) * s.outW + ox
                XCTAssertEqual(argmax[o], Int32(at), "\(h)x\(w) plane \(p) output (\(oy), \(ox))")
                XCTAssertTrue(y[o] == best || (y[o].isNaN && best.isNaN), "\(h)x\(w) value")
            } } }
        }
    }

    func testBroadcastLayoutMergesAxes() {
        XCTAssertEqual(BroadcastLayout([2, 3, 4, 5], [2, 3, 1, 1])?.shape, [2, 3, 4, 5])
        XCTAssertEqual(BroadcastLayout([4, 1], [3])?.shape, [4, 3])
        XCTAssertNil(BroadcastLayout([2, 3], [4]))
        let layout = BroadcastLayout([2, 3, 2], [3, 1])!
        let a = (0..<12).map(Float.init), b: [Float] = [10, 20, 30]
        var out = [Float](repeating: 0, count: 12)
        ElementwiseKernel.binary(.add, layout, a: a, b: b, out: &out)
        XCTAssertEqual(out, [10, 11, 22, 23, 34, 35, 16, 17, 28, 29, 40, 41])
    }

    func testBLASCoreChoice() {
        XCTAssertEqual(BLAS.preferredCoreType(flags: ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]), "SkylakeX")
        XCTAssertEqual(BLAS.preferredCoreType(flags: ["avx2", "fma"]), "Haswell")
        XCTAssertNil(BLAS.preferredCoreType(flags: ["sse4_2"]))
        let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
        XCTAssertEqual(BLAS.coreTypeToForce(loadedCore: "Prescott", flags: avx512, environmentSet: false), "SkylakeX")
        XCTAssertEqual(BLAS.coreTypeToForce(loadedCore: "Zen", flags: avx512, environmentSet: false), "SkylakeX", "Zen 4")
        XCTAssertEqual(BLAS.coreTypeToForce(loadedCore: "Prescott", flags: ["avx2", "fma"], environmentSet: false), "Haswell")
        XCTAssertNil(BLAS.coreTypeToForce(loadedCore: "Zen", flags: ["avx2", "fma"], environmentSet: false))
        XCTAssertNil(BLAS.coreTypeToForce(loadedCore: "SkylakeX", flags: avx512, environmentSet: false))
        XCTAssertNil(BLAS.coreTypeToForce(loadedCore: "Prescott", flags: avx512, environmentSet: true), "the user's choice stands")
        // Its decisions on given machines: an older core unpinned is degraded; the right one, or any pinned one, is not.
        let unpinned: (String) -> String? = { _ in nil }, pinned: (String) -> String? = { $0 == "OPENBLAS_CORETYPE" ? "Haswell" : nil }
        XCTAssertTrue(BLAS.coreIsDegraded(loadedCore: "Prescott", flags: avx512, environment: unpinned))
        XCTAssertTrue(BLAS.coreIsDegraded(loadedCore: "Haswell", flags: avx512, environment: unpinned), "AVX-512 on Haswell kernels")
        XCTAssertFalse(BLAS.coreIsDegraded(loadedCore: "SkylakeX", flags: avx512, environment: unpinned))
        XCTAssertFalse(BLAS.coreIsDegraded(loadedCore: "Haswell", flags: ["avx2", "fma"], environment: unpinned))
        XCTAssertFalse(BLAS.coreIsDegraded(loadedCore: "Prescott", flags: avx512, environment: pinned), "the pin stands")
    }

    func testTunedEnvironmentFillsOnlyWhatIsUnset() {
        XCTAssertEqual(BLAS.tunedEnvironment(current: { _ in nil })["OPENBLAS_THREAD_TIMEOUT"], "4")
        let set = BLAS.tunedEnvironment(current: { $0 == "OPENBLAS_THREAD_TIMEOUT" ? "8" : nil })
        XCTAssertNil(set["OPENBLAS_THREAD_TIMEOUT"], "the user's value stands")
        XCTAssertEqual(BLAS.tunedEnvironment(current: { _ in nil })["OMP_WAIT_POLICY"], "PASSIVE")
        XCTAssertNil(BLAS.tunedEnvironment(current: { $0 == "OMP_WAIT_POLICY" ? "ACTIVE" : nil })["OMP_WAIT_POLICY"],
                     "the user's OpenMP wait policy stands")
        XCTAssertNil(BLAS.tunedEnvironment(current: { _ in "x" })["OPENBLAS_CORETYPE"])
    }

    /// The stream is part of the checkpoint format (data order and augmentation are drawn from
    /// it, so a resume depends on it): pinned to xoshiro256** seeded through SplitMix64 as a
    /// plain Python transcription of both algorithms computes them.
    func testRandomGeneratorIsXoshiro256StarStarSeededBySplitMix64() {
        var a = RandomGenerator(seed: 42)
        XCTAssertEqual((0..<3).map { _ in a.next() }, [0x1578_0B2E_0C2E_C716, 0x6104_D986_6D11_3A7E, 0xAE17_5332_39E4_99A1])
        var c = RandomGenerator(seed: 1, stream: 2, 3)
        XCTAssertEqual((0..<2).map { _ in c.next() }, [0x2FC5_6226_83E6_32EC, 0x6245_C9D1_4EC8_D325])
        var d = RandomGenerator(seed: 1, stream: 3, 2)
        XCTAssertNotEqual(d.next(), 0x2FC5_6226_83E6_32EC, "the order of the stream's values matters")
        var u = RandomGenerator(seed: 7)
        XCTAssertEqual(u.uniform(), 0.7005764821796896)
    }
}
