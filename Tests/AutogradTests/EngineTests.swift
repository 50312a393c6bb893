import Autograd
import Kernels
import TestSupport
import XCTest

final class EngineTests: XCTestCase {
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
}
