import Kernels

extension Tensor {
    /// The same values with another shape (a view: no copy). One extent may be -1.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let hole = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != hole }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "reshape: cannot view \(shape) as \(newShape)")
            resolved[hole] = count / known
        }
        precondition(resolved.reduce(1, *) == count, "reshape: cannot view \(shape) as \(newShape)")
        let y = Tensor(shape: resolved, storage: plainValues.storage)
        let original = shape
        return y.record(.reshape(resolved), inputs: [self]) { dy in [Tensor(shape: original, storage: dy.plainValues.storage)] }
    }

    /// `torch.flatten(x, start)`: merges the axes from `start` on.
    public func flattened(from start: Int = 1) -> Tensor {
        reshaped(Array(shape[..<start]) + [shape[start...].reduce(1, *)])
    }

    /// `x.permute(order)`, as a contiguous copy.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.sorted() == Array(0..<rank), "permute: \(order) is not a permutation of \(rank) axes")
        let y = Tensor(uninitialized: order.map { shape[$0] })
        ElementwiseKernel.permute(pointer, shape: shape, permutation: order, into: y.pointer)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, axis) in order.enumerated() { inverse[axis] = i }
        let outShape = y.shape, inShape = shape
        return y.record(.permute(order), inputs: [self]) { dy in
            let dx = Tensor(uninitialized: inShape)
            ElementwiseKernel.permute(dy.pointer, shape: outShape, permutation: inverse, into: dx.pointer)
            return [dx]
        }
    }

    /// `x.transpose(a, b)`, as a contiguous copy.
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return permuted(order)
    }
}

extension Tensor {
    /// `x.expand(shape)`, as a copy: broadcasts unit axes; backward sums them back.
    public func expanded(to newShape: [Int]) -> Tensor {
        if newShape == shape { return self }
        let y = Tracer.untraced { self + Tensor(zeros: newShape) }
        Tracer.add(.expand(newShape), inputs: [self], output: y)
        return y
    }
}
