import Dispatch
@testable import Kernels
import XCTest

/// oneDNN's primitives as ddptrain runs them: convolutions against our own kernels in fp32 on
/// every CPU, in bf16 against the same products of bf16-rounded operands where the CPU has
/// bf16, and the same bits whichever and however many of our threads call them.
final class OneDNNTests: XCTestCase {
    static func random(_ n: Int, seed: UInt64) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<n).map { _ in Float(rng.uniform() * 2 - 1) }
    }

    /// Every shape class the models use: 1×1 stride 1 and 2, 3×3 stride 1 and 2, the 7×7
    /// stride-2 stem, odd planes (a stride that leaves the last row out), a CIFAR-sized plane.
    static let shapes: [Conv2dShape] = [
        Conv2dShape(batch: 3, inChannels: 16, height: 9, width: 9, outChannels: 32, kernelH: 1, kernelW: 1),
        Conv2dShape(batch: 2, inChannels: 16, height: 10, width: 9, outChannels: 24, kernelH: 1, kernelW: 1, strideH: 2, strideW: 2),
        Conv2dShape(batch: 3, inChannels: 8, height: 11, width: 10, outChannels: 16, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
        Conv2dShape(batch: 2, inChannels: 16, height: 13, width: 12, outChannels: 32, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
                    padH: 1, padW: 1),
        Conv2dShape(batch: 2, inChannels: 3, height: 23, width: 21, outChannels: 16, kernelH: 7, kernelW: 7, strideH: 2, strideW: 2,
                    padH: 3, padW: 3),
        Conv2dShape(batch: 4, inChannels: 1, height: 28, width: 28, outChannels: 64, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
    ]

    /// One shape's operands and a gradient to start accumulating from.
    struct Case: Sendable {
        let s: Conv2dShape
        let x: [Float], w: [Float], bias: [Float], dy: [Float], dW0: [Float]
        init(_ s: Conv2dShape, seed: UInt64) {
            self.s = s
            x = OneDNNTests.random(s.inputCount, seed: seed)
            w = OneDNNTests.random(s.weightCount, seed: seed + 1)
            bias = OneDNNTests.random(s.outChannels, seed: seed + 2)
            dy = OneDNNTests.random(s.outputCount, seed: seed + 3)
            dW0 = OneDNNTests.random(s.weightCount, seed: seed + 4)
        }

        /// y, dx and dW (accumulated onto dW0) through oneDNN.
        func oneDNN(_ element: OneDNN.Element) -> (y: [Float], dx: [Float], dW: [Float]) {
            var y = [Float](repeating: .nan, count: s.outputCount), dx = [Float](repeating: .nan, count: s.inputCount), dW = dW0
            XCTAssertTrue(OneDNNConvolution.forward(element, s, x: x, weight: w, bias: bias, y: &y), "forward \(s)")
            XCTAssertTrue(OneDNNConvolution.backward(element, s, x: x, weight: w, dy: dy, dx: &dx, dWeight: &dW), "backward \(s)")
            // Each gradient alone (dy converted for one pass) gives the bits of both together
            // (dy converted once and shared).
            var dxAlone = [Float](repeating: .nan, count: s.inputCount), dWAlone = dW0
            XCTAssertTrue(OneDNNConvolution.backwardData(element, s, dy: dy, weight: w, dx: &dxAlone), "backward data \(s)")
            XCTAssertTrue(OneDNNConvolution.backwardWeights(element, s, x: x, dy: dy, dWeight: &dWAlone), "backward weights \(s)")
            XCTAssertEqual(dxAlone.map(\.bitPattern), dx.map(\.bitPattern), "dx alone and with dW, \(element) \(s)")
            XCTAssertEqual(dWAlone.map(\.bitPattern), dW.map(\.bitPattern), "dW alone and with dx, \(element) \(s)")
            return (y, dx, dW)
        }

        /// The same through our own fp32 kernels, on operands rounded to bf16 first when `roundToBF16`.
        func ours(roundToBF16: Bool) -> (y: [Float], dx: [Float], dW: [Float]) {
            func prepared(_ v: [Float]) -> [Float] {
                guard roundToBF16 else { return v }
                var out = v
                BFloat16.round(v, count: v.count, into: &out)
                return out
            }
            let (x, w, dy) = (prepared(x), prepared(w), prepared(dy))
            return ComputePrecision.with(.fp32) {
                var y = [Float](repeating: 0, count: s.outputCount), dx = [Float](repeating: 0, count: s.inputCount), dW = dW0
                var workspace = [Float](repeating: 0, count: max(Conv2dKernel.backwardWorkspaceCount(s), 1))
                Conv2dKernel.forward(s, x: x, weight: w, bias: bias, y: &y, workspace: &workspace)
                Conv2dKernel.backward(s, x: x, weight: w, dy: dy, dx: &dx, dWeight: &dW, dBias: nil, workspace: &workspace)
                return (y, dx, dW)
            }
        }
    }

    func assertNear(_ actual: [Float], _ expected: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        XCTAssertGreaterThan(actual.count, 0, what, file: file, line: line)
        // float32 accumulation in another order: relative to the tensor's scale.
        let scale = expected.map { abs($0) }.max() ?? 0
        let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 2e-5 * max(scale, 1), "\(what): worst difference \(worst) at scale \(scale)", file: file, line: line)
    }

    func testFP32ConvolutionsMatchOurKernels() {
        XCTAssertTrue(OneDNN.supports(.f32), "oneDNN's CPU engine is missing")
        for (i, s) in Self.shapes.enumerated() {
            let c = Case(s, seed: UInt64(10 * i))
            let (got, want) = (c.oneDNN(.f32), c.ours(roundToBF16: false))
            assertNear(got.y, want.y, "y \(s)")
            assertNear(got.dx, want.dx, "dx \(s)")
            assertNear(got.dW, want.dW, "dW \(s)")
        }
    }

    /// ResNet-18 with the ImageNet stem on 28² images: planes of 7, 4, 2 and 1, where padding
    /// and stride dominate.
    static let smallPlaneShapes: [Conv2dShape] = [
        Conv2dShape(batch: 16, inChannels: 1, height: 28, width: 28, outChannels: 64, kernelH: 7, kernelW: 7, strideH: 2, strideW: 2, padH: 3, padW: 3),
        Conv2dShape(batch: 16, inChannels: 64, height: 7, width: 7, outChannels: 64, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
        Conv2dShape(batch: 16, inChannels: 64, height: 7, width: 7, outChannels: 128, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padH: 1, padW: 1),
        Conv2dShape(batch: 16, inChannels: 64, height: 7, width: 7, outChannels: 128, kernelH: 1, kernelW: 1, strideH: 2, strideW: 2),
        Conv2dShape(batch: 16, inChannels: 128, height: 4, width: 4, outChannels: 128, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
        Conv2dShape(batch: 16, inChannels: 128, height: 4, width: 4, outChannels: 256, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padH: 1, padW: 1),
        Conv2dShape(batch: 16, inChannels: 128, height: 4, width: 4, outChannels: 256, kernelH: 1, kernelW: 1, strideH: 2, strideW: 2),
        Conv2dShape(batch: 16, inChannels: 256, height: 2, width: 2, outChannels: 256, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
        Conv2dShape(batch: 16, inChannels: 256, height: 2, width: 2, outChannels: 512, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padH: 1, padW: 1),
        Conv2dShape(batch: 16, inChannels: 256, height: 2, width: 2, outChannels: 512, kernelH: 1, kernelW: 1, strideH: 2, strideW: 2),
        Conv2dShape(batch: 16, inChannels: 512, height: 1, width: 1, outChannels: 512, kernelH: 3, kernelW: 3, padH: 1, padW: 1),
    ]

    func testSmallPlanesMatchOurKernelsInBothElementTypes() {
        for (i, s) in Self.smallPlaneShapes.enumerated() {
            let c = Case(s, seed: UInt64(300 + i))
            let (got, want) = (c.oneDNN(.f32), c.ours(roundToBF16: false))
            assertNear(got.y, want.y, "fp32 y \(s)")
            assertNear(got.dx, want.dx, "fp32 dx \(s)")
            assertNear(got.dW, want.dW, "fp32 dW \(s)")
            guard OneDNN.supports(.bf16) else { continue }
            let (got16, want16) = (c.oneDNN(.bf16), c.ours(roundToBF16: true))
            assertNear(got16.y, want16.y, "bf16 y \(s)")
            assertNear(got16.dx, want16.dx, "bf16 dx \(s)")
            assertNear(got16.dW, want16.dW, "bf16 dW \(s)")
        }
    }

    func testStartUpSelfCheckPasses() {
        XCTAssertTrue(OneDNNConvolution.passesSelfCheck(.f32))
        XCTAssertTrue(OneDNNConvolution.passesBlockedSelfCheck(.f32), "blocked float32 activations")
        if OneDNN.supports(.bf16) {
            XCTAssertTrue(OneDNNConvolution.passesSelfCheck(.bf16))
            XCTAssertTrue(OneDNNConvolution.passesBlockedSelfCheck(.bf16), "blocked bf16 activations")
            XCTAssertEqual(ActivationFormat.blockedBF16IsUsable, BF16GEMM.backend == .oneDNN)
        } else {
            print("OneDNNTests: bf16 self-checks not run: this CPU has no AVX512-BF16 or AMX")
        }
    }

    func testBF16ConvolutionsMatchTheProductsOfRoundedOperands() throws {
        guard OneDNN.supports(.bf16) else {
            throw XCTSkip("this CPU has no AVX512-BF16 or AMX: oneDNN 2.6 has no bf16 convolutions here (the fp32 instantiation is tested)")
        }
        for (i, s) in Self.shapes.enumerated() {
            let c = Case(s, seed: UInt64(10 * i + 5))
            let (got, want) = (c.oneDNN(.bf16), c.ours(roundToBF16: true))
            assertNear(got.y, want.y, "y \(s)")
            assertNear(got.dx, want.dx, "dx \(s)")
            assertNear(got.dW, want.dW, "dW \(s)")
            // Not a float32 product: the unrounded operands' result is farther away than rounding allows.
            let unrounded = c.ours(roundToBF16: false)
            let gap = zip(got.y, unrounded.y).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(gap, 1e-4, "bf16 y of \(s) equals the fp32 product: the operands were not rounded")
        }
    }

    /// The bug that made bf16-mixed train wrong on bf16 CPUs: primitives created on one thread
    /// and run from several at once shared oneDNN's library scratchpad. Here every pass of
    /// several shapes, and several matrix products, run many times from four of our threads at
    /// once, in a different order on each, and must give the bits a lone run gives.
    func testSameBitsFromConcurrentThreads() {
        var elements: [OneDNN.Element] = [.f32]
        if OneDNN.supports(.bf16) { elements.append(.bf16) } else {
            print("OneDNNTests: bf16 concurrency not tested: this CPU has no AVX512-BF16 or AMX (fp32 is)")
        }
        let cases = Self.shapes.enumerated().map { Case($1, seed: UInt64(100 + $0)) }
        let products: [(transA: Bool, transB: Bool, m: Int, n: Int, k: Int)] = [
            (false, false, 64, 96, 200), (true, false, 128, 33, 77), (false, true, 48, 300, 64), (true, true, 17, 64, 513),
        ]
        for element in elements {
            @Sendable func runAll(order: [Int]) -> [[Float]] {
                var results = [[Float]](repeating: [], count: cases.count + products.count)
                for index in order {
                    if index < cases.count {
                        let r = cases[index].oneDNN(element)
                        results[index] = r.y + r.dx + r.dW
                    } else {
                        let p = products[index - cases.count]
                        results[index] = Self.product(element, p.transA, p.transB, p.m, p.n, p.k)
                    }
                }
                return results
            }
            let all = Array(0..<(cases.count + products.count))
            let reference = runAll(order: all)
            let threads = 4, rounds = 6
            nonisolated(unsafe) var mismatches: [String] = []
            let lock = NSLock()
            // With the shared library scratchpad this spun forever instead of returning wrong
            // bits: a deadline turns that into a failure.
            let done = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    for round in 0..<rounds {
                        var rng = RandomGenerator(seed: UInt64(t * 31 + round))
                        let got = runAll(order: all.shuffled(using: &rng))
                        for i in all where got[i].map(\.bitPattern) != reference[i].map(\.bitPattern) {
                            lock.withLock { mismatches.append("\(element) item \(i), thread \(t), round \(round)") }
                        }
                    }
                }
                done.signal()
            }
            if done.wait(timeout: .now() + 180) == .timedOut {
                print("OneDNNTests: \(element) primitives run from \(threads) threads at once did not finish in 180 s (a lone run takes well under 1 s)")
                exit(1)
            }
            XCTAssertEqual(mismatches, [], "\(element): results differ from a lone run's")
        }
    }

    static func product(_ element: OneDNN.Element, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int) -> [Float] {
        let a = random(m * k, seed: UInt64(m)), b = random(k * n, seed: UInt64(n))
        var c = random(m * n, seed: UInt64(k))
        let ok: Bool
        switch element {
        case .f32:
            ok = OneDNNMatmul.run(.f32, transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0.5, c: &c, ldc: n)
        case .bf16:
            var a16 = [UInt16](repeating: 0, count: a.count), b16 = [UInt16](repeating: 0, count: b.count)
            BFloat16.convert(a, count: a.count, into: &a16)
            BFloat16.convert(b, count: b.count, into: &b16)
            ok = OneDNNMatmul.run(.bf16, transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a16, b: b16, beta: 0.5,
                                  c: &c, ldc: n)
        }
        XCTAssertTrue(ok, "matmul \(element) \(m)×\(n)×\(k)")
        return c
    }
}
