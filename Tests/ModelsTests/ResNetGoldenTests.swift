import Autograd
import Kernels
import Models
import NN
import TestSupport
import XCTest

/// torchvision's ResNet-18 (CIFAR stem, 1 channel, 10 classes) with weights from the golden
/// README's hash: eval logits, train logits and loss, every parameter's gradient statistics,
/// and the running statistics after one train-mode forward.
final class ResNetGoldenTests: XCTestCase {
    static func u(_ stream: UInt64, _ i: UInt64) -> Double {
        var state = (stream << 32) | i
        return Double(splitmix64(&state) >> 11) * 0x1.0p-53
    }

    static func fill(_ model: Module, keys: [[Any]]) {
        let entries = model.stateDict()
        precondition(entries.count == keys.count)
        for (k, (name, tensor)) in entries.enumerated() {
            let shape = tensor.shape
            let fanIn = shape.count > 1 ? Double(tensor.count / shape[0]) : 1
            for i in 0..<tensor.count {
                let u = Self.u(UInt64(k), UInt64(i))
                let value: Double
                if name.hasSuffix("num_batches_tracked") { value = 0 }
                else if name.hasSuffix("running_var") { value = 0.8 + 0.4 * u }
                else if name.hasSuffix("running_mean") || name.hasSuffix("bias") { value = 0.2 * (u - 0.5) }
                else if shape.count == 1 { value = 0.8 + 0.4 * u }
                else { value = (2 * u - 1) * 3.0.squareRoot() * (2 / fanIn).squareRoot() }
                tensor.pointer[i] = Float(value)
            }
        }
    }

    func testResNet18MatchesPyTorch() throws {
        let golden = try Golden.load("resnet18_cifarstem_1ch_10cls")
        let model = try ModelRegistry.entry("resnet18").build(.init(numClasses: 10, inChannels: 1, stem: .cifar))
        let keys = golden["state_dict_keys"] as! [[Any]]
        XCTAssertEqual(model.stateDict().map(\.name), keys.map { $0[0] as! String }, "state_dict keys and order")
        XCTAssertEqual(model.stateDict().map(\.tensor.shape), keys.map { $0[1] as! [Int] }, "state_dict shapes")
        XCTAssertEqual(model.parameterCount, 11_172_810)
        Self.fill(model, keys: keys)

        let xShape = golden["x_shape"] as! [Int]
        let x = Tensor(uninitialized: xShape)
        for j in 0..<x.count { x.pointer[j] = Float(2 * Self.u(0xFFFF, UInt64(j)) - 1) }
        let labels = (golden["labels"] as! [Int]).map(Int32.init)

        model.eval()
        let evalLogits = withNoGrad { model(x) }
        assertClose(evalLogits, Golden.tensor(golden["eval_logits"]), rtol: 1e-4, "eval logits")

        model.train()
        let logits = model(x)
        assertClose(logits, Golden.tensor(golden["train_logits"]), rtol: 1e-4, "train logits")
        let loss = crossEntropy(logits, labels: labels)
        assertClose(Double(loss.item()), golden["train_loss"] as! Double, rtol: 1e-4, "train loss")
        loss.backward()

        let stats = golden["grad_stats"] as! [String: [String: Double]]
        for (name, p) in model.namedParameters() {
            guard let expected = stats[name], let grad = p.grad else { XCTFail("no gradient statistics for \(name)"); continue }
            let values = grad.toArray().map(Double.init)
            let sum = values.reduce(0, +), l2 = values.map { $0 * $0 }.reduce(0, +).squareRoot()
            XCTAssertEqual(l2, expected["l2"]!, accuracy: 1e-4 * expected["l2"]!, "\(name) gradient l2")
            // Sums cancel: compare against the l2 · √numel scale, as the golden README says.
            XCTAssertEqual(sum, expected["sum"]!, accuracy: 1e-4 * expected["l2"]! * Double(values.count).squareRoot(),
                           "\(name) gradient sum")
        }
        let sums = golden["running_stat_sums_after_train_forward"] as! [String: Double]
        let buffers = Dictionary(uniqueKeysWithValues: model.namedBuffers().map { ($0.name, $0.tensor) })
        for (name, expected) in sums {
            let actual = buffers[name]!.toArray().reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(actual, expected, accuracy: 1e-4 * max(abs(expected), 1), "\(name) sum")
        }
    }
}
