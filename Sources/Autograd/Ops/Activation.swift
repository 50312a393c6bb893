import Kernels

public func relu(_ x: Tensor) -> Tensor {
    if case .blocked(let element) = x.format {
        let y = Tensor(uninitialized: x.shape, format: x.format)
        BlockedElementwiseKernel.relu(element, x.rawPointer, y.rawPointer, count: y.count)
        return y.record(.relu, inputs: [x], backward: blockedReLUBackward(output: y, element: element))
    }
    let y = Tensor(uninitialized: x.shape)
    ActivationKernel.reluForward(x.pointer, y.pointer, count: x.count)
    let saved = y.storage, shape = x.shape
    return y.record(.relu, inputs: [x]) { dy in
        let dx = dy.gradientBuffer(shape)
        ActivationKernel.reluBackward(y: saved.base, dy: dy.pointer, dx: dx.pointer, count: dx.count)
        return [dx]
    }
}

/// `relu(a + b)` for tensors of one shape, in one pass each way (a residual block's end).
public func addReLU(_ a: Tensor, _ b: Tensor) -> Tensor {
    guard a.shape == b.shape else { return relu(a + b) }
    // Blocked when either input is (the other converted to it: a residual add's two branches).
    if case .blocked(let element) = a.format == .plain ? b.format : a.format {
        let format = TensorFormat.blocked(element)
        let (ca, cb) = (a.converted(to: format), b.converted(to: format))
        let y = Tensor(uninitialized: a.shape, format: format)
        BlockedElementwiseKernel.addReLU(element, ca.rawPointer, cb.rawPointer, y.rawPointer, count: y.count)
        let backward = blockedReLUBackward(output: y, element: element)
        let needsGrad = (a.requiresGrad, b.requiresGrad)
        return y.record(.addReLU, inputs: [a, b]) { dy in
            let dx = backward(dy)[0]
            return [needsGrad.0 ? dx : nil, needsGrad.1 ? dx : nil]
        }
    }
    let y = Tensor(uninitialized: a.shape)
    ActivationKernel.addReLUForward(a.pointer, b.pointer, y.pointer, count: y.count)
    let saved = y.storage, shape = a.shape, needsGrad = (a.requiresGrad, b.requiresGrad)
    return y.record(.addReLU, inputs: [a, b]) { dy in
        let dx = dy.gradientBuffer(shape)
        ActivationKernel.reluBackward(y: saved.base, dy: dy.pointer, dx: dx.pointer, count: dx.count)
        return [needsGrad.0 ? dx : nil, needsGrad.1 ? dx : nil]
    }
}

public func sigmoid(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    ActivationKernel.sigmoidForward(x.pointer, y.pointer, count: x.count)
    let saved = y.storage, shape = x.shape
    return y.record(.sigmoid, inputs: [x]) { dy in
        let dx = Tensor(uninitialized: shape)
        ActivationKernel.sigmoidBackward(y: saved.base, dy: dy.pointer, dx: dx.pointer, count: dx.count)
        return [dx]
    }
}

/// Exact (erf) GELU, PyTorch's default `approximate='none'`.
public func gelu(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    ActivationKernel.geluForward(x.pointer, y.pointer, count: x.count)
    return y.record(.gelu, inputs: [x]) { dy in
        let dx = Tensor(uninitialized: x.shape)
        ActivationKernel.geluBackward(x: x.pointer, dy: dy.pointer, dx: dx.pointer, count: x.count)
        return [dx]
    }
}

/// ReLU's backward on a blocked output: `dy` (converted to the output's format) where the
/// output is positive.
private func blockedReLUBackward(output y: Tensor, element: OneDNN.Element) -> (Tensor) -> [Tensor?] {
    let saved = y.storage, shape = y.shape, format = y.format
    return { upstream in
        let dy = upstream.converted(to: format)
        let dx = dy.gradientBuffer(shape, format: format)
        BlockedElementwiseKernel.reluBackward(element, y: UnsafeRawPointer(saved.base), dy: dy.rawPointer, dx: dx.rawPointer,
                                              count: dx.count)
        return [dx]
    }
}
