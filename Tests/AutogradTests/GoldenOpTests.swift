import Autograd
import TestSupport
import XCTest

/// Every op case in ../shared/golden, forward and backward, against PyTorch's numbers.
final class GoldenOpTests: XCTestCase {
    /// Builds the op's output from the case's inputs, params and attrs.
    static var ops: [String: (_ inputs: [Tensor], _ params: [Tensor], _ attrs: [String: Any]) -> Tensor] { [
        "avgpool_4": { x, _, a in avgPool2d(x[0], kernel: a["kernel"] as! Int) },
        "concat_channels": { x, _, _ in cat(x, dim: 1) },
        "conv2d_1x1_s2": conv, "conv2d_3x3_s2_p1_bias": conv, "conv2d_7x7_s2_p3": conv,
        "conv_transpose2d_k2_s2": { x, p, a in
            convTranspose2d(x[0], weight: p[0], bias: p.count > 1 ? p[1] : nil, stride: a["stride"] as? Int ?? 1,
                            padding: a["padding"] as? Int ?? 0)
        },
        "gelu": { x, _, _ in gelu(x[0]) },
        "relu": { x, _, _ in relu(x[0]) },
        "sigmoid": { x, _, _ in sigmoid(x[0]) },
        "softmax_lastdim": { x, _, _ in softmax(x[0]) },
        "global_avgpool": { x, _, _ in globalAvgPool2d(x[0]) },
        "layer_norm": { x, p, _ in layerNorm(x[0], weight: p[0], bias: p[1]) },
        "linear": { x, p, _ in linear(x[0], weight: p[0], bias: p[1]) },
        "maxpool_2x2": pool, "maxpool_3x3_s2_p1": pool,
        "multihead_self_attention": { x, p, a in
            let qkv = linear(x[0], weight: p[0], bias: p[1])
            return linear(selfAttention(packed: qkv, heads: a["num_heads"] as! Int), weight: p[2], bias: p[3])
        },
        "se_block_r16": { x, p, _ in
            let (n, c) = (x[0].shape[0], x[0].shape[1])
            let squeezed = globalAvgPool2d(x[0]).reshaped([n, c])
            let scale = sigmoid(linear(relu(linear(squeezed, weight: p[0])), weight: p[1]))
            return x[0] * scale.reshaped([n, c, 1, 1])
        },
        "upsample_bilinear_x2": { x, _, _ in upsampleBilinear(x[0], scale: 2) },
    ] }

    static func conv(_ x: [Tensor], _ p: [Tensor], _ a: [String: Any]) -> Tensor {
        conv2d(x[0], weight: p[0], bias: p.count > 1 ? p[1] : nil, stride: a["stride"] as? Int ?? 1,
               padding: a["padding"] as? Int ?? 0)
    }

    static func pool(_ x: [Tensor], _ p: [Tensor], _ a: [String: Any]) -> Tensor {
        maxPool2d(x[0], kernel: a["kernel"] as! Int, stride: a["stride"] as? Int, padding: a["padding"] as? Int ?? 0)
    }

    func testEveryOpCaseMatchesPyTorch() throws {
        for (name, op) in Self.ops.sorted(by: { $0.key < $1.key }) {
            let golden = try Golden.load(name)
            let inputs = Golden.tensors(golden["inputs"])
            let params = Golden.tensors(golden["params"])
            for t in inputs + params { t.requiresGrad = true }
            let y = op(inputs, params, golden["attrs"] as? [String: Any] ?? [:])
            assertClose(y, Golden.tensor(golden["y"]), rtol: 1e-5, "\(name) forward")
            (y * Golden.tensor(golden["dy"])).sum().backward()
            // zip stops at the shorter side: the counts must agree, or a missing golden would pass unchecked.
            XCTAssertFalse(inputs.isEmpty, "\(name): no inputs in the golden file")
            XCTAssertEqual(Golden.tensors(golden["grad_inputs"]).count, inputs.count, "\(name): gradients of the inputs")
            XCTAssertEqual(Golden.tensors(golden["grad_params"]).count, params.count, "\(name): gradients of the parameters")
            for (i, (t, expected)) in zip(inputs, Golden.tensors(golden["grad_inputs"])).enumerated() {
                guard let grad = t.grad else { XCTFail("\(name): no gradient for input \(i)"); continue }
                assertClose(grad, expected, rtol: 1e-4, "\(name) grad of input \(i)")
            }
            for (i, (t, expected)) in zip(params, Golden.tensors(golden["grad_params"])).enumerated() {
                guard let grad = t.grad else { XCTFail("\(name): no gradient for param \(i)"); continue }
                assertClose(grad, expected, rtol: 1e-4, "\(name) grad of param \(i)")
            }
        }
    }

    func testCrossEntropyCasesMatchPyTorch() throws {
        for name in ["cross_entropy", "cross_entropy_label_smoothing", "cross_entropy_2d"] {
            let golden = try Golden.load(name)
            let logits = Golden.tensor((golden["inputs"] as! [Any])[0])
            logits.requiresGrad = true
            let labels = (golden["labels"] as! [Int]).map(Int32.init)
            let smoothing = (golden["attrs"] as? [String: Any])?["label_smoothing"] as? Double ?? 0
            let loss = crossEntropy(logits, labels: labels, labelSmoothing: Float(smoothing))
            assertClose(Double(loss.item()), golden["loss"] as! Double, rtol: 1e-5, "\(name) loss")
            loss.backward()
            assertClose(logits.grad!, Golden.tensors(golden["grad_inputs"])[0], rtol: 1e-4, "\(name) gradient")
        }
    }

    /// Each golden file is claimed by a test here or in the NN, Optim and Models suites, so a
    /// new case cannot sit unread.
    func testEveryGoldenCaseIsCovered() throws {
        let elsewhere: Set<String> = ["batchnorm2d", "sgd_momentum_wd", "sgd_nesterov", "adamw", "resnet18_cifarstem_1ch_10cls"]
        let covered = Set(Self.ops.keys).union(["cross_entropy", "cross_entropy_label_smoothing", "cross_entropy_2d"])
            .union(elsewhere)
        let present = Set(try Golden.caseNames())
        XCTAssertEqual(present.subtracting(covered), [], "golden cases no test reads")
        XCTAssertEqual(covered.subtracting(present), [], "golden cases the tests expect but the folder lacks")
    }
}
