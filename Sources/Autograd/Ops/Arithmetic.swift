import Kernels

private func broadcastLayout(_ op: String, _ a: Tensor, _ b: Tensor) -> BroadcastLayout {
    guard let layout = BroadcastLayout(a.shape, b.shape) else {
        preconditionFailure("\(op): shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    return layout
}

private func binary(_ op: BinaryOp, _ kind: OpKind, _ a: Tensor, _ b: Tensor) -> Tensor {
    let layout = broadcastLayout(kind.name, a, b)
    let y = Tensor(uninitialized: layout.shape)
    ElementwiseKernel.binary(op, layout, a: a.pointer, b: b.pointer, out: y.pointer)
    // Only a product's backward reads the operands' values; sums and differences need shapes.
    let operands = [(shape: a.shape, needsGrad: a.requiresGrad), (shape: b.shape, needsGrad: b.requiresGrad)]
    let factors: [Tensor?] = op == .multiply ? [b.requiresGrad ? a : nil, a.requiresGrad ? b : nil] : [nil, nil]
    return y.record(kind, inputs: [a, b]) { dy in
        func gradient(_ operand: (shape: [Int], needsGrad: Bool), isA: Bool) -> Tensor? {
            guard operand.needsGrad else { return nil }
            switch op {
            case .add, .subtract:
                if operand.shape == layout.shape {
                    if op == .subtract && !isA {
                        let g = Tensor(uninitialized: operand.shape)
                        ElementwiseKernel.scale(dy.pointer, by: -1, into: g.pointer, count: g.count)
                        return g
                    }
                    return dy
                }
                let g = Tensor(zeros: operand.shape)
                ElementwiseKernel.reduceToOperand(layout, operandIsA: isA, source: dy.pointer, target: g.pointer)
                if op == .subtract && !isA { ElementwiseKernel.scale(g.pointer, by: -1, into: g.pointer, count: g.count) }
                return g
            case .multiply:
                let g = Tensor(zeros: operand.shape)
                let other = factors[isA ? 1 : 0]!
                ElementwiseKernel.reduceToOperand(layout, operandIsA: isA, source: dy.pointer, factor: other.pointer,
                                                  target: g.pointer)
                return g
            case .divide:
                // Handled by `divide`, which keeps the quotient its backward needs.
                preconditionFailure("div: recorded through divide(_:_:)")
            }
        }
        return [gradient(operands[0], isA: true), gradient(operands[1], isA: false)]
    }
}

/// `a / b` with broadcasting: `da = Σ dy / b`, `db = −Σ (dy / b) · (a / b)`, each summed down
/// onto its operand's shape.
private func divide(_ a: Tensor, _ b: Tensor) -> Tensor {
    let layout = broadcastLayout("div", a, b)
    let y = Tensor(uninitialized: layout.shape)
    ElementwiseKernel.binary(.divide, layout, a: a.pointer, b: b.pointer, out: y.pointer)
    let (aShape, bShape) = (a.shape, b.shape)
    let needsGrad = (a: a.requiresGrad, b: b.requiresGrad)
    let divisor: Tensor? = needsGrad.a || needsGrad.b ? b : nil
    let quotient = needsGrad.b ? y.storage : nil
    return y.record(.divide, inputs: [a, b]) { dy in
        guard let divisor else { return [nil, nil] }
        // dy / b, in the output's shape.
        let scaled = Tensor(uninitialized: layout.shape)
        ElementwiseKernel.binary(.divide, broadcastLayout("div", dy, divisor), a: dy.pointer, b: divisor.pointer,
                                 out: scaled.pointer)
        var da: Tensor? = nil
        if needsGrad.a {
            if aShape == layout.shape { da = scaled } else {
                let g = Tensor(zeros: aShape)
                ElementwiseKernel.reduceToOperand(layout, operandIsA: true, source: scaled.pointer, target: g.pointer)
                da = g
            }
        }
        var db: Tensor? = nil
        if needsGrad.b, let quotient {
            // −Σ (dy / b) · y: the product rule's factor is the quotient, in the output's shape.
            let terms = Tensor(uninitialized: layout.shape)
            ElementwiseKernel.binary(.multiply, broadcastLayout("div", scaled, terms), a: scaled.pointer, b: quotient.base,
                                     out: terms.pointer)
            let g = Tensor(zeros: bShape)
            ElementwiseKernel.reduceToOperand(layout, operandIsA: false, source: terms.pointer, target: g.pointer)
            ElementwiseKernel.scale(g.pointer, by: -1, into: g.pointer, count: g.count)
            db = g
        }
        return [da, db]
    }
}

/// Elementwise `a + b` with broadcasting.
public func + (a: Tensor, b: Tensor) -> Tensor { binary(.add, .add, a, b) }
/// Elementwise `a − b` with broadcasting.
public func - (a: Tensor, b: Tensor) -> Tensor { binary(.subtract, .subtract, a, b) }
/// Elementwise `a · b` with broadcasting (the SE rescale is `[N,C,H,W] * [N,C,1,1]`).
public func * (a: Tensor, b: Tensor) -> Tensor { binary(.multiply, .multiply, a, b) }
/// Elementwise `a / b` with broadcasting (PyTorch's true division).
public func / (a: Tensor, b: Tensor) -> Tensor { divide(a, b) }

/// `x · scalar`.
public func * (x: Tensor, scalar: Float) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    ElementwiseKernel.scale(x.pointer, by: scalar, into: y.pointer, count: x.count)
    let shape = x.shape
    return y.record(.scale(scalar), inputs: [x]) { dy in
        let dx = Tensor(uninitialized: shape)
        ElementwiseKernel.scale(dy.pointer, by: scalar, into: dx.pointer, count: dx.count)
        return [dx]
    }
}

extension Tensor {
    /// Sum of all elements, as a scalar tensor.
    public func sum() -> Tensor {
        let y = Tensor(scalar: Float(ElementwiseKernel.sum(pointer, count: count)))
        let shape = self.shape
        return y.record(.sum, inputs: [self]) { dy in [Tensor(filling: shape, with: dy.pointer[0])] }
    }

    /// Mean of all elements, as a scalar tensor.
    public func mean() -> Tensor { sum() * (1 / Float(max(count, 1))) }
}
