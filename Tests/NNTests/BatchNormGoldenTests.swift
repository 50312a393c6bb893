import Autograd
import NN
import TestSupport
import XCTest

final class BatchNormGoldenTests: XCTestCase {
    /// One train-mode forward/backward (batch statistics, running-stat update with the
    /// unbiased variance, num_batches_tracked), then eval mode on the same input.
    func testBatchNorm2dMatchesPyTorch() throws {
        let golden = try Golden.load("batchnorm2d")
        let params = Golden.tensors(golden["params"])
        let before = golden["before"] as! [String: Any], after = golden["after"] as! [String: Any]
        let bn = BatchNorm2d(params[0].count)
        bn.weight.copyValues(from: params[0])
        bn.bias.copyValues(from: params[1])
        bn.runningMean.copyValues(from: Golden.tensor(before["running_mean"]))
        bn.runningVar.copyValues(from: Golden.tensor(before["running_var"]))

        let x = Golden.tensors(golden["inputs"])[0]
        x.requiresGrad = true
        let y = bn(x)
        assertClose(y, Golden.tensor(golden["y_train"]), rtol: 1e-5, "train output")
        (y * Golden.tensor(golden["dy"])).sum().backward()
        assertClose(x.grad!, Golden.tensors(golden["grad_inputs"])[0], rtol: 1e-4, "input gradient")
        assertClose(bn.weight.grad!, Golden.tensors(golden["grad_params"])[0], rtol: 1e-4, "weight gradient")
        assertClose(bn.bias.grad!, Golden.tensors(golden["grad_params"])[1], rtol: 1e-4, "bias gradient")
        assertClose(bn.runningMean, Golden.tensor(after["running_mean"]), rtol: 1e-5, "running_mean")
        assertClose(bn.runningVar, Golden.tensor(after["running_var"]), rtol: 1e-5, "running_var")
        XCTAssertEqual(Int(bn.numBatchesTracked.item()), after["num_batches_tracked"] as? Int)

        bn.eval()
        let yEval = withNoGrad { bn(x) }
        assertClose(yEval, Golden.tensor(golden["y_eval"]), rtol: 1e-5, "eval output")
        XCTAssertEqual(Int(bn.numBatchesTracked.item()), 1, "eval does not count batches")
    }
}
