import Kernels

/// `F.softmax(x, -1)`.
public func softmax(_ x: Tensor) -> Tensor {
    precondition(x.rank >= 1, "softmax: needs at least one axis, got \(x.shape)")
    let length = x.shape.last!, rows = x.count / max(length, 1)
    let y = Tensor(uninitialized: x.shape)
    SoftmaxKernel.forward(x: x.pointer, rows: rows, length: length, y: y.pointer)
    let saved = y.storage, shape = x.shape
    return y.record(.softmax, inputs: [x]) { dy in
        let dx = Tensor(uninitialized: shape)
        SoftmaxKernel.backward(y: saved.base, dy: dy.pointer, rows: rows, length: length, dx: dx.pointer)
        return [dx]
    }
}
