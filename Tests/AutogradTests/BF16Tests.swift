import Autograd
import Foundation
import Kernels
import TestSupport
import XCTest

/// bf16-mixed against PyTorch's bf16 autocast (Tests/Golden/make-bf16.py wrote the answers).
///
/// Tolerances, from bf16's 8-bit significand (unit roundoff u = 2⁻⁹): both sides round the
/// operands alike (RNE) and accumulate in float32, so against the float64 product of the
/// rounded operands ("exact") ours may differ only by float32 accumulation, taken as 1e-5 of
/// the sum of the products' magnitudes ("scale"), on the im2col, Winograd and linear paths
/// alike; float32 operands miss that by 100–300× on every case (checked). PyTorch also rounds
/// each output and gradient to bf16 (≤ u·|value|, allowed twice) and adds the bias in bf16
/// (≤ u·scale): that is the bound against its autocast figures.
final class BF16Tests: XCTestCase {
    nonisolated(unsafe) static let reference: [String: Any] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Golden/bf16.json")
        let data = try! Data(contentsOf: url)
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    func testRoundingMatchesPyTorch() {
        let rounding = Self.reference["rounding"] as! [String: Any]
        let values = (rounding["values"] as! [Int]).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }
        let expected = (rounding["rounded"] as! [Int]).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }
        var vectorRounded = [Float](repeating: 0, count: values.count)
        BFloat16.round(values, count: values.count, into: &vectorRounded)
        var bits = [UInt16](repeating: 0, count: values.count)
        BFloat16.convert(values, count: values.count, into: &bits)
        for i in values.indices {
            let scalar = BFloat16.round(values[i])
            XCTAssertEqual(scalar.bitPattern, expected[i].bitPattern, "\(values[i])")
            XCTAssertEqual(vectorRounded[i].bitPattern, expected[i].bitPattern, "vector path, \(values[i])")
            XCTAssertEqual(UInt32(bits[i]) << 16, expected[i].bitPattern, "bf16 bits, \(values[i])")
        }
        XCTAssertTrue(BFloat16.round(.nan).isNaN)
        var nans = [Float](repeating: .nan, count: 9)
        BFloat16.round(nans, count: 9, into: &nans)
        XCTAssertTrue(nans.allSatisfy(\.isNaN))
    }

    /// The emulated product is the float64 product of the rounded operands, to float32
    /// accumulation, for every transpose, alpha and beta the kernels use; float32 operands
    /// would miss it.
    func testEmulatedProductIsTheProductOfRoundedOperands() {
        let (m, n, k) = (13, 17, 40)
        var rng = RandomGenerator(seed: 3)
        let a = (0..<(m * k)).map { _ in Float(rng.uniform() * 2 - 1) }, b = (0..<(k * n)).map { _ in Float(rng.uniform() * 2 - 1) }
        for (transA, transB, alpha, beta) in [(false, false, Float(1), Float(0)), (true, false, 1, 1), (false, true, 0.5, 0),
                                               (true, true, 2, 0.25)] {
            let (lda, ldb) = (transA ? m : k, transB ? k : n)
            func at(_ x: [Float], _ transposed: Bool, _ ld: Int, _ i: Int, _ j: Int) -> Double {
                Double(BFloat16.round(transposed ? x[j * ld + i] : x[i * ld + j]))
            }
            var c = [Float](repeating: 0.5, count: m * n), fp32 = c
            ComputePrecision.with(.bf16) {
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                           beta: beta, c: &c, ldc: n)
            }
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: &fp32, ldc: n)
            var worst = 0.0, fp32Worst = 0.0
            for i in 0..<m { for j in 0..<n {
                var exact = 0.0, scale = 0.0
                for p in 0..<k {
                    exact += at(a, transA, lda, i, p) * at(b, transB, ldb, p, j)
                    scale += abs(at(a, transA, lda, i, p) * at(b, transB, ldb, p, j))
                }
                let expected = Double(alpha) * exact + Double(beta) * 0.5
                worst = max(worst, abs(Double(c[i * n + j]) - expected) / (Double(abs(alpha)) * scale))
                fp32Worst = max(fp32Worst, abs(Double(fp32[i * n + j]) - expected) / (Double(abs(alpha)) * scale))
            } }
            XCTAssertLessThan(worst, 1e-6, "transA \(transA) transB \(transB)")
            XCTAssertGreaterThan(fp32Worst, 1e-4, "float32 operands would not pass: transA \(transA) transB \(transB)")
        }
    }

    /// Every case twice: with float32 outputs (activations plain: the products' own numerics,
    /// against the exact product of the rounded operands), and as bf16-mixed runs them on this CPU
    /// (with bf16 instructions, convolutions write bf16 activations, which PyTorch's autocast does
    /// too: then each value may also be off by its own bf16 rounding).
    func testOpsMatchAutocast() throws {
        let formats = ComputePrecision.with(.bf16) { ActivationFormat.current == .plain ? [TensorFormat.plain] : [.plain, ActivationFormat.current] }
        if formats.count == 1 { print("BF16Tests: bf16 activations not checked: they need bf16 instructions (oneDNN: \(OneDNN.isaName))") }
        for format in formats {
            try checkOpsAgainstAutocast(format)
        }
    }

    func checkOpsAgainstAutocast(_ format: TensorFormat) throws {
        for (index, item) in (Self.reference["cases"] as! [[String: Any]]).enumerated() {
            let attrs = item["attrs"] as! [String: Any]
            let name = "\(item["op"] as! String) #\(index) \(attrs["path"] as? String ?? "") activations \(format)"
            let inputs = Golden.tensors(item["inputs"]), params = Golden.tensors(item["params"])
            for t in inputs + params { t.requiresGrad = true }
            let y = ComputePrecision.with(.bf16) { ActivationFormat.with(format) { () -> Tensor in
                let y = item["op"] as! String == "linear"
                    ? linear(inputs[0], weight: params[0], bias: params[1])
                    : conv2d(inputs[0], weight: params[0], stride: attrs["stride"] as! Int, padding: attrs["padding"] as! Int)
                (y * Golden.tensor(item["dy"])).sum().backward()
                return y
            } }
            let ours = ([y] + (inputs + params).map { $0.grad! }).map { $0.toArray() }
            func values(_ key: String) -> [[Float]] {
                let part = item[key] as! [String: Any]
                return ([Golden.tensor(part["y"])] + Golden.tensors(part["grads"])).map { $0.toArray() }
            }
            let (exact, scale, autocast) = (values("exact"), values("scale"), values("autocast"))
            let exactTolerance = 1e-5
            // bf16 activations (y, and x's gradient where x is held so) round to bf16.
            let rounding = format == .plain ? 0.0 : 1.0 / 256
            for (i, what) in ["y", "grad 0", "grad 1", "grad 2"].prefix(ours.count).enumerated() {
                var worstExact = 0.0, worstAutocast = 0.0
                for j in ours[i].indices {
                    let (o, e, s, a) = (Double(ours[i][j]), Double(exact[i][j]), Double(scale[i][j]), Double(autocast[i][j]))
                    worstExact = max(worstExact, abs(o - e) / (exactTolerance * s + rounding * abs(e) + 1e-6))
                    worstAutocast = max(worstAutocast, abs(o - a) / (abs(a) / 256 + s / 512 + exactTolerance * s + 1e-6))
                }
                XCTAssertLessThanOrEqual(worstExact, 1, "\(name) \(what) against the exact product of bf16 operands")
                XCTAssertLessThanOrEqual(worstAutocast, 1, "\(name) \(what) against PyTorch's autocast")
            }
        }
    }
}
