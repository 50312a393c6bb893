import Autograd
import XCTest

/// Largest |actual − expected| measured against `rtol·(|expected| + max|expected|)`: relative
/// to each value and to the tensor's scale, so near-zero entries of a large tensor do not
/// demand impossible precision. Returns the worst ratio (≤ 1 passes).
public func worstRatio(_ actual: [Float], _ expected: [Float], rtol: Double) -> Double {
    let scale = expected.map { abs(Double($0)) }.max() ?? 0
    var worst = 0.0
    for (a, e) in zip(actual, expected) {
        let allowed = rtol * (abs(Double(e)) + scale) + 1e-12
        let ratio = abs(Double(a) - Double(e)) / allowed
        if ratio.isNaN { return .infinity }
        worst = max(worst, ratio)
    }
    return worst
}

public func assertClose(_ actual: Tensor, _ expected: Tensor, rtol: Double, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(what): shape", file: file, line: line)
    guard actual.count == expected.count else { return }
    XCTAssertGreaterThan(expected.count, 0, "\(what): nothing to compare", file: file, line: line)
    let ratio = worstRatio(actual.toArray(), expected.toArray(), rtol: rtol)
    XCTAssertLessThanOrEqual(ratio, 1, "\(what): off by \(ratio)x the tolerance \(rtol)", file: file, line: line)
}

public func assertClose(_ actual: Double, _ expected: Double, rtol: Double, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual, expected, accuracy: rtol * max(abs(expected), 1e-6), what, file: file, line: line)
}

/// Bit-for-bit equality of two tensors; a failure names the tensor, counts the differing
/// elements and shows the first and the largest difference, not megabytes of floats.
public func assertBitwiseEqual(_ actual: Tensor, _ expected: Tensor, _ name: String,
                               file: StaticString = #filePath, line: UInt = #line) {
    guard actual.shape == expected.shape else {
        XCTFail("\(name): shape \(actual.shape), expected \(expected.shape)", file: file, line: line)
        return
    }
    let (a, e) = (actual.toArray(), expected.toArray())
    var differing = 0, first: Int?, largest = (index: 0, difference: Float(0))
    for i in a.indices where a[i].bitPattern != e[i].bitPattern {
        differing += 1
        if first == nil { first = i }
        let difference = abs(a[i] - e[i])
        if !(difference <= largest.difference) { largest = (i, difference) }
    }
    if let first {
        XCTFail("\(name): \(differing) of \(a.count) elements differ; first at \(first) (\(a[first]) against \(e[first])), "
                + "largest at \(largest.index) (\(a[largest.index]) against \(e[largest.index]))", file: file, line: line)
    }
}
