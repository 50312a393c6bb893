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
    let ratio = worstRatio(actual.toArray(), expected.toArray(), rtol: rtol)
    XCTAssertLessThanOrEqual(ratio, 1, "\(what): off by \(ratio)x the tolerance \(rtol)", file: file, line: line)
}

public func assertClose(_ actual: Double, _ expected: Double, rtol: Double, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual, expected, accuracy: rtol * max(abs(expected), 1e-6), what, file: file, line: line)
}
