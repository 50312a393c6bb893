import Autograd
import Optim
import TestSupport
import XCTest

final class OptimizerGoldenTests: XCTestCase {
    func run(_ name: String, make: ([ParamGroup]) -> Optimizer) throws {
        let golden = try Golden.load(name)
        let p = Golden.tensor(golden["param0"])
        p.requiresGrad = true
        let lr = name == "adamw" ? 1e-2 : 0.1
        let wd = name == "adamw" ? 0.01 : (name == "sgd_nesterov" ? 5e-4 : 1e-4)
        let optimizer = make([ParamGroup(parameters: [("p", p)], lr: lr, weightDecay: wd)])
        let (grads, after) = (Golden.tensors(golden["grads"]), Golden.tensors(golden["after_each_step"]))
        XCTAssertGreaterThan(grads.count, 1, "\(name): the golden file's steps")
        XCTAssertEqual(after.count, grads.count, "\(name): a result per step")
        for (step, (grad, expected)) in zip(grads, after).enumerated() {
            p.grad = grad
            optimizer.step()
            assertClose(p, expected, rtol: 1e-5, "\(name) after step \(step + 1)")
        }
    }

    func testSGDMomentumWeightDecay() throws { try run("sgd_momentum_wd") { SGD($0, momentum: 0.9) } }
    func testSGDNesterov() throws { try run("sgd_nesterov") { SGD($0, momentum: 0.9, nesterov: true) } }
    func testAdamW() throws { try run("adamw") { AdamW($0, betas: (0.9, 0.999), eps: 1e-8) } }

    func testStateIsAddressableByParameterName() {
        let w = Tensor(shape: [2], data: [1, 1]), b = Tensor(shape: [2], data: [0, 0])
        w.requiresGrad = true; b.requiresGrad = true
        let optimizer = SGD(ParamGroup.decayingWeightsOnly([("fc.weight", w.reshaped([1, 2]).detached()), ("fc.bias", b)],
                                                           lr: 0.1, weightDecay: 0.5), momentum: 0.9)
        XCTAssertEqual(optimizer.paramGroups.map { $0.parameters.map(\.name) }, [["fc.weight"], ["fc.bias"]])
        XCTAssertEqual(optimizer.paramGroups.map(\.weightDecay), [0.5, 0])
        for group in optimizer.paramGroups { for p in group.parameters { p.tensor.grad = Tensor(filling: p.tensor.shape, with: 1) } }
        optimizer.step()
        XCTAssertEqual(Set(optimizer.state.keys), ["fc.weight", "fc.bias"])
        // weight: g = 1 + 0.5·1; bias: g = 1 (no decay)
        XCTAssertEqual(optimizer.state["fc.weight"]?["momentum_buffer"]?.toArray(), [1.5, 1.5])
        XCTAssertEqual(b.toArray(), [-0.1, -0.1])
        optimizer.zeroGrad()
        XCTAssertNil(b.grad)
    }
}
