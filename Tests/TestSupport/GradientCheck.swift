import Autograd
import Kernels
import XCTest

/// Compares autograd's gradients of `sum(f(inputs) · dy)` with central finite differences,
/// for every element of every input. Meant for tiny shapes.
public func checkGradients(_ name: String, inputs: [Tensor], eps: Float = 1e-2, rtol: Double = 2e-2,
                           seed: UInt64 = 0xD1CE, file: StaticString = #filePath, line: UInt = #line,
                           _ f: ([Tensor]) -> Tensor) {
    for t in inputs { t.requiresGrad = true; t.grad = nil }
    let y = f(inputs)
    var rng = RandomGenerator(seed: seed)
    let dy = Tensor.uniform(y.shape, low: -1, high: 1, using: &rng)
    (y * dy).sum().backward()

    func objective() -> Double {
        withNoGrad {
            let out = f(inputs)
            var total = 0.0
            for i in 0..<out.count { total += Double(out.pointer[i]) * Double(dy.pointer[i]) }
            return total
        }
    }
    for (k, t) in inputs.enumerated() {
        guard let analytic = t.grad else {
            XCTFail("\(name): input \(k) got no gradient", file: file, line: line)
            continue
        }
        var numeric = [Float](repeating: 0, count: t.count)
        for i in 0..<t.count {
            let saved = t.pointer[i]
            t.pointer[i] = saved + eps
            let plus = objective()
            t.pointer[i] = saved - eps
            let minus = objective()
            t.pointer[i] = saved
            numeric[i] = Float((plus - minus) / (2 * Double(eps)))
        }
        let ratio = worstRatio(analytic.toArray(), numeric, rtol: rtol)
        XCTAssertLessThanOrEqual(ratio, 1, "\(name): gradient of input \(k) differs from finite differences by \(ratio)x the tolerance",
                                 file: file, line: line)
    }
}

/// A tensor of uniform values in [−1, 1) whose magnitudes stay above `floor` (away from
/// the kinks of ReLU and the ties of max pooling).
public func testTensor(_ shape: [Int], seed: UInt64, floor: Float = 0) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    let t = Tensor(uninitialized: shape)
    for i in 0..<t.count {
        var v = Float(rng.uniform() * 2 - 1)
        if abs(v) < floor { v = v < 0 ? v - floor : v + floor }
        t.pointer[i] = v
    }
    return t
}
