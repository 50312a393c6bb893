import Kernels

private func poolShape(_ op: String, _ x: Tensor, kernel: Int, stride: Int?, padding: Int) -> Pool2dShape {
    precondition(x.rank == 4, "\(op): expects NCHW input, got \(x.shape)")
    precondition(padding * 2 <= kernel, "\(op): padding \(padding) should be at most half of kernel \(kernel)")
    let s = Pool2dShape(batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3],
                        kernel: kernel, stride: stride, padding: padding)
    precondition(s.outH > 0 && s.outW > 0, "\(op): input \(x.shape) is smaller than kernel \(kernel)")
    return s
}

/// `F.max_pool2d(x, kernel, stride, padding)` (stride defaults to the kernel).
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    let s = poolShape("max_pool2d", x, kernel: kernel, stride: stride, padding: padding)
    if case .blocked(let element) = x.format { return blockedMaxPool2d(x, s, element) }
    let y = Tensor(uninitialized: [s.batch, s.channels, s.outH, s.outW])
    let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: s.outputCount)
    PoolKernel.maxForward(s, x: x.pointer, y: y.pointer, argmax: argmax)
    guard GradMode.isEnabled && x.requiresGrad else {
        argmax.deallocate()
        return y.record(.maxPool2d(kernel: kernel, stride: s.stride, padding: padding), inputs: [x]) { _ in [nil] }
    }
    let saved = IndexBuffer(argmax), shape = x.shape
    return y.record(.maxPool2d(kernel: kernel, stride: s.stride, padding: padding), inputs: [x]) { dy in
        let dx = Tensor(uninitialized: shape)
        PoolKernel.maxBackward(s, dy: dy.pointer, argmax: saved.pointer, dx: dx.pointer)
        return [dx]
    }
}

/// `maxPool2d` on a blocked input, into the same format.
private func blockedMaxPool2d(_ x: Tensor, _ s: Pool2dShape, _ element: OneDNN.Element) -> Tensor {
    let format = x.format
    let y = Tensor(uninitialized: [s.batch, s.channels, s.outH, s.outW], format: format)
    let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: s.outputCount)
    BlockedPoolKernel.maxForward(s, element, x: x.rawPointer, y: y.rawPointer, argmax: argmax)
    let saved = IndexBuffer(argmax), shape = x.shape
    return y.record(.maxPool2d(kernel: s.kernel, stride: s.stride, padding: s.padding), inputs: [x]) { upstream in
        let dy = upstream.converted(to: format)
        let dx = Tensor(uninitialized: shape, format: format)
        BlockedPoolKernel.maxBackward(s, element, dy: dy.rawPointer, argmax: saved.pointer, dx: dx.rawPointer)
        return [dx]
    }
}

/// `F.avg_pool2d(x, kernel, stride, padding)` with `count_include_pad=True`.
public func avgPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    let s = poolShape("avg_pool2d", x, kernel: kernel, stride: stride, padding: padding)
    let y = Tensor(uninitialized: [s.batch, s.channels, s.outH, s.outW])
    PoolKernel.averageForward(s, x: x.pointer, y: y.pointer)
    let shape = x.shape
    return y.record(.avgPool2d(kernel: kernel, stride: s.stride, padding: padding), inputs: [x]) { dy in
        let dx = Tensor(uninitialized: shape)
        PoolKernel.averageBackward(s, dy: dy.pointer, dx: dx.pointer)
        return [dx]
    }
}

/// `F.adaptive_avg_pool2d(x, 1)`: `[N, C, H, W] → [N, C, 1, 1]`.
public func globalAvgPool2d(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "adaptive_avg_pool2d: expects NCHW input, got \(x.shape)")
    let planes = x.shape[0] * x.shape[1], plane = x.shape[2] * x.shape[3]
    let y = Tensor(uninitialized: [x.shape[0], x.shape[1], 1, 1])
    PoolKernel.globalAverageForward(x: x.pointer, planes: planes, plane: plane, y: y.pointer)
    let shape = x.shape
    return y.record(.globalAvgPool2d, inputs: [x]) { dy in
        let dx = Tensor(uninitialized: shape)
        PoolKernel.globalAverageBackward(dy: dy.pointer, planes: planes, plane: plane, dx: dx.pointer)
        return [dx]
    }
}

/// Max-pool winners kept for backward.
final class IndexBuffer {
    let pointer: UnsafeMutablePointer<Int32>
    init(_ pointer: UnsafeMutablePointer<Int32>) { self.pointer = pointer }
    deinit { pointer.deallocate() }
}
