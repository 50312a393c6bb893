import Kernels

/// `F.layer_norm(x, (last,), weight, bias, eps)`.
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    let length = x.shape.last ?? 1, rows = x.count / max(length, 1)
    precondition(weight == nil || weight!.shape == [length], "layer_norm: weight \(weight!.shape) for input \(x.shape)")
    precondition(bias == nil || bias!.shape == [length], "layer_norm: bias \(bias!.shape) for input \(x.shape)")
    let y = Tensor(uninitialized: x.shape)
    let mean = Tensor(uninitialized: [rows]), rstd = Tensor(uninitialized: [rows])
    LayerNormKernel.forward(x: x.pointer, rows: rows, length: length, eps: eps, weight: weight?.pointer,
                            bias: bias?.pointer, y: y.pointer, mean: mean.pointer, rstd: rstd.pointer)
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return y.record(.layerNorm(eps: eps), inputs: inputs) { dy in
        let dx = Tensor(uninitialized: x.shape)
        let dw = weight.map { Tensor(zeros: $0.shape) }
        let db = bias.map { Tensor(zeros: $0.shape) }
        LayerNormKernel.backward(x: x.pointer, dy: dy.pointer, rows: rows, length: length, weight: weight?.pointer,
                                 mean: mean.pointer, rstd: rstd.pointer, dx: dx.pointer, dWeight: dw?.pointer,
                                 dBias: db?.pointer)
        var result: [Tensor?] = [dx]
        if weight != nil { result.append(dw) }
        if bias != nil { result.append(db) }
        return result
    }
}
