import Kernels

/// `torch.cat(tensors, dim)`.
public func cat(_ tensors: [Tensor], dim: Int) -> Tensor {
    precondition(!tensors.isEmpty, "cat: no tensors")
    let first = tensors[0]
    let axis = dim < 0 ? dim + first.rank : dim
    precondition(axis >= 0 && axis < first.rank, "cat: dim \(dim) for shape \(first.shape)")
    for t in tensors {
        precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == axis || t.shape[$0] == first.shape[$0] },
                     "cat: shapes \(first.shape) and \(t.shape) differ outside dim \(axis)")
    }
    let outer = first.shape[..<axis].reduce(1, *)
    let inner = first.shape[(axis + 1)...].reduce(1, *)
    let extents = tensors.map { $0.shape[axis] }
    let total = extents.reduce(0, +)
    var shape = first.shape
    shape[axis] = total
    let y = Tensor(uninitialized: shape)
    ConcatKernel.forward(parts: tensors.map { (UnsafePointer($0.pointer), $0.shape[axis]) }, outer: outer, inner: inner,
                         y: y.pointer)
    let parts = tensors.map { (shape: $0.shape, needsGrad: $0.requiresGrad) }
    return y.record(.concat(axis: axis), inputs: tensors) { dy in
        var start = 0
        return zip(parts, extents).map { part, extent in
            defer { start += extent }
            guard part.needsGrad else { return nil }
            let dx = Tensor(uninitialized: part.shape)
            ConcatKernel.slice(dy: dy.pointer, total: total, start: start, extent: extent, outer: outer, inner: inner,
                               dx: dx.pointer)
            return dx
        }
    }
}

/// `x.narrow(dim, start, length)`, as a copy.
public func narrow(_ x: Tensor, dim: Int, start: Int, length: Int) -> Tensor {
    let axis = dim < 0 ? dim + x.rank : dim
    precondition(axis >= 0 && axis < x.rank && start >= 0 && length >= 0 && start + length <= x.shape[axis],
                 "narrow: [\(start), \(start + length)) of dim \(dim) in shape \(x.shape)")
    let outer = x.shape[..<axis].reduce(1, *)
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    let total = x.shape[axis]
    var shape = x.shape
    shape[axis] = length
    let y = Tensor(uninitialized: shape)
    ConcatKernel.slice(dy: x.pointer, total: total, start: start, extent: length, outer: outer, inner: inner, dx: y.pointer)
    let inputShape = x.shape
    return y.record(.narrow(axis: axis, start: start, length: length), inputs: [x]) { dy in
        let dx = Tensor(zeros: inputShape)
        let run = length * inner
        for o in 0..<outer {
            (dx.pointer + (o * total + start) * inner).update(from: dy.pointer + o * run, count: run)
        }
        return [dx]
    }
}
