import Kernels

/// `F.linear(x, weight, bias)`: `x[..., in] · weightᵀ + bias`, weight `[out, in]`.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(x.rank >= 1 && weight.rank == 2 && x.shape.last == weight.shape[1],
                 "linear: input \(x.shape) does not fit weight \(weight.shape)")
    precondition(bias == nil || bias!.shape == [weight.shape[0]], "linear: bias \(bias!.shape) for weight \(weight.shape)")
    let (outF, inF) = (weight.shape[0], weight.shape[1])
    let rows = x.count / max(inF, 1)
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outF])
    FLOPCounter.add(2 * Double(rows) * Double(inF * outF))
    LinearKernel.forward(x: x.pointer, rows: rows, inFeatures: inF, outFeatures: outF, weight: weight.pointer,
                         bias: bias?.pointer, y: y.pointer)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return y.record(.linear, inputs: inputs) { dy in
        let dx = x.requiresGrad ? Tensor(uninitialized: x.shape) : nil
        let dw = weight.additiveGradientTarget()
        let db = bias?.additiveGradientTarget()
        LinearKernel.backward(x: x.pointer, rows: rows, inFeatures: inF, outFeatures: outF, weight: weight.pointer,
                              dy: dy.pointer, dx: dx?.pointer, dWeight: dw?.pointer, dBias: db?.pointer)
        return bias == nil ? [dx, weight.gradientToReturn(dw)] : [dx, weight.gradientToReturn(dw), bias!.gradientToReturn(db)]
    }
}
