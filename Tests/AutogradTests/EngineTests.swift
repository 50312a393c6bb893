@testable import Autograd
import Kernels
import TestSupport
import XCTest

final class EngineTests: XCTestCase {
    /// `a / b` broadcasts as PyTorch's true division: `[2,3,2,2] / [2,3,1,1]` divides each
    /// (image, channel) plane by its own value; `[3,1,1] / [2,3,2,2]` the other way round.
    func testDivisionBroadcasts() {
        let a = testTensor([2, 3, 2, 2], seed: 31), b = testTensor([2, 3, 1, 1], seed: 32, floor: 0.5)
        let y = a / b
        XCTAssertEqual(y.shape, [2, 3, 2, 2])
        for i in 0..<y.count { XCTAssertEqual(y.pointer[i], a.pointer[i] / b.pointer[i / 4], "element \(i)") }
        let c = testTensor([3, 1, 1], seed: 33), d = testTensor([2, 3, 2, 2], seed: 34, floor: 0.5)
        let z = c / d
        XCTAssertEqual(z.shape, [2, 3, 2, 2])
        for i in 0..<z.count { XCTAssertEqual(z.pointer[i], c.pointer[(i / 4) % 3] / d.pointer[i], "element \(i)") }
    }

    func testGradientsAccumulateUntilZeroed() {
        let w = Tensor(shape: [3], data: [1, 2, 3])
        w.requiresGrad = true
        (w * w).sum().backward()
        XCTAssertEqual(w.grad?.toArray(), [2, 4, 6])
        (w * 2).sum().backward()
        XCTAssertEqual(w.grad?.toArray(), [4, 6, 8])
        w.zeroGrad()
        XCTAssertNil(w.grad)
    }

    func testSharedSubexpressionSumsBothPaths() {
        let x = Tensor(shape: [2], data: [1, -2])
        x.requiresGrad = true
        let y = x * 3
        // y feeds two consumers; one of them passes the upstream gradient through unchanged.
        ((y + y) * y).sum().backward()  // d/dx (2·(3x)²) = 36x
        XCTAssertEqual(x.grad?.toArray(), [36, -72])
    }

    func testNoGradRecordsNothing() {
        let x = Tensor(shape: [2], data: [1, 2])
        x.requiresGrad = true
        let y = withNoGrad { x * x }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.gradFunction)
        XCTAssertTrue(GradMode.isEnabled)
    }

    /// ResNet-152 has a few thousand nodes; a chain of 200,000 would overflow a recursive sort.
    func testVeryDeepGraphDoesNotOverflowTheStack() {
        let x = Tensor(shape: [1], data: [1])
        x.requiresGrad = true
        var y = x
        for _ in 0..<200_000 { y = y * 1.0 }
        y.sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [1])
    }

    func testIntermediatesAreReleasedAfterBackward() {
        weak var intermediate: Tensor?
        let x = Tensor(shape: [4], data: [1, 2, 3, 4])
        x.requiresGrad = true
        var loss: Tensor? = nil
        do {
            let hidden = relu(x * 2)
            intermediate = hidden
            loss = (hidden * hidden).sum()
        }
        XCTAssertNotNil(intermediate, "the graph keeps the intermediate alive before backward")
        loss!.backward()
        XCTAssertNil(intermediate, "backward released the saved intermediate")
        XCTAssertEqual(x.grad?.toArray(), [8, 16, 24, 32])
    }

    func testGradReadyFiresOncePerLeafWhenComplete() {
        let a = Tensor(shape: [2], data: [1, 2]), b = Tensor(shape: [2], data: [3, 4])
        a.requiresGrad = true; b.requiresGrad = true
        var fired: [String] = []
        a.onGradReady = { t in fired.append("a \(t.grad!.toArray())") }
        b.onGradReady = { t in fired.append("b \(t.grad!.toArray())") }
        // a is used twice: its hook must wait for both uses.
        let loss = ((a * b) + (a * 2)).sum()
        loss.backward()
        XCTAssertEqual(fired.count, 2)
        XCTAssertTrue(fired.contains("a [5.0, 6.0]"))
        XCTAssertTrue(fired.contains("b [1.0, 2.0]"))
    }

    /// The graph links operations, not tensors: an input no backward closure needs (a ReLU's,
    /// a sum's) is freed during the forward pass, as in PyTorch.
    func testInputsNoClosureSavesAreFreedBeforeBackward() {
        weak var unsaved: Tensor?
        let x = Tensor(shape: [4], data: [-1, 2, -3, 4])
        x.requiresGrad = true
        var loss: Tensor? = nil
        do {
            let scaled = x * 2  // read by relu only, which saves its output
            unsaved = scaled
            loss = (relu(scaled) + x).sum()
        }
        XCTAssertNil(unsaved, "relu's input is not kept for backward")
        loss!.backward()
        XCTAssertEqual(x.grad?.toArray(), [1, 3, 1, 3])
    }

    /// An upstream gradient handed to two inputs (a sum's backward passes it to both) must not be
    /// overwritten by the first consumer's in-place backward.
    func testSharedUpstreamGradientIsNotReusedInPlace() {
        let x = Tensor(shape: [4], data: [-2, -1, 1, 2])
        x.requiresGrad = true
        let t = x * 1.5
        (relu(t) + relu(t * -1)).sum().backward()  // d/dx = 1.5·sign(x)
        XCTAssertEqual(x.grad?.toArray(), [-1.5, -1.5, 1.5, 1.5])
        // The same through batch norm, whose input gradient can also take dy's memory: the
        // gradient of the sum is the sum of the separately taken gradients.
        let data: [Float] = [1, 2, 4, -1, 0.5, 3]
        let weights = Tensor(shape: [3, 2], data: [1, 0.5, 0, 2, -1, 0])
        func gradient(bn: Bool, relu useRelu: Bool) -> [Float] {
            let y = Tensor(shape: [3, 2], data: data)
            y.requiresGrad = true
            let u = y * 1
            var terms: [Tensor] = []
            if bn {
                terms.append(batchNorm2d(u, weight: nil, bias: nil, runningMean: nil, runningVar: nil, training: true) * weights)
            }
            if useRelu { terms.append(relu(u)) }
            terms.dropFirst().reduce(terms[0], +).sum().backward()
            return y.grad!.toArray()
        }
        let together = gradient(bn: true, relu: true)
        let apart = zip(gradient(bn: true, relu: false), gradient(bn: false, relu: true)).map { $0 + $1 }
        for (a, b) in zip(together, apart) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        XCTAssertNotEqual(apart, gradient(bn: false, relu: true), "batch norm contributes")
    }

    /// Pool size classes: eight per power of two, never more than 12.5% above the request.
    func testStorageSizeClasses() {
        XCTAssertEqual(StoragePool.sizeClass(of: 100), 100)
        XCTAssertEqual(StoragePool.sizeClass(of: 1 << 20), 1 << 20)
        XCTAssertEqual(StoragePool.sizeClass(of: (1 << 20) + 1), (1 << 20) + (1 << 17))
        for count in [16_385, 100_000, 802_816, 12_845_056, 25_690_112] {
            let rounded = StoragePool.sizeClass(of: count)
            XCTAssertGreaterThanOrEqual(rounded, count)
            XCTAssertLessThanOrEqual(Double(rounded), Double(count) * 1.125)
            XCTAssertEqual(StoragePool.sizeClass(of: rounded), rounded)
        }
    }

    /// A freed block serves the next request of its class, or a smaller one down to half its size.
    func testFreedBlocksAreReused() {
        StoragePool.releaseCached()  // blocks other tests left could serve these requests
        var first: Storage? = Storage(count: 300_000)
        let address = first!.base
        first = nil
        let same = Storage(count: 300_000)
        XCTAssertEqual(same.base, address)
        var big: Storage? = Storage(count: 1_000_000)
        let bigAddress = big!.base
        big = nil
        let smaller = Storage(count: 600_000)
        XCTAssertEqual(smaller.base, bigAddress)
        XCTAssertEqual(smaller.count, 600_000)
    }
}
