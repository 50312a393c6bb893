import Autograd
import Kernels

/// Gradients of a few parameters packed into one flat buffer, all-reduced as one message.
final class GradientBucket {
    let parameters: [Tensor]
    let offsets: [Int]
    let buffer: UnsafeMutableBufferPointer<Float>
    /// Which parameters' gradients for this step are packed.
    var packed: [Bool]
    /// Parameters whose gradient for this step has not arrived yet.
    var pending: Int
    var request: PendingCollective?
    var launched = false

    init(parameters: [Tensor]) {
        self.parameters = parameters
        var offsets: [Int] = [], total = 0
        for p in parameters { offsets.append(total); total += p.count }
        self.offsets = offsets
        buffer = .allocate(capacity: total)
        buffer.initialize(repeating: 0)
        packed = Array(repeating: false, count: parameters.count)
        pending = parameters.count
    }

    deinit { buffer.deallocate() }

    var byteCount: Int { buffer.count * MemoryLayout<Float>.stride }

    /// Copies `p`'s gradient (zeros if it has none) into place; returns false if it holds NaN or ±Inf.
    func pack(_ index: Int) -> Bool {
        if !packed[index] {
            packed[index] = true
            pending -= 1
        }
        let p = parameters[index]
        let dst = buffer.baseAddress! + offsets[index]
        guard let g = p.grad else {
            dst.update(repeating: 0, count: p.count)
            return true
        }
        var finite = true
        let src = g.pointer
        for i in 0..<p.count {
            let v = src[i]
            dst[i] = v
            if !v.isFinite { finite = false }
        }
        return finite
    }

    /// Writes `scale ×` the reduced values back into every parameter's gradient; returns
    /// false if any reduced value is NaN or ±Inf.
    func unpack(scale: Float) -> Bool {
        var finite = true
        for (p, offset) in zip(parameters, offsets) {
            let g = p.grad ?? Tensor(uninitialized: p.shape)
            let src = buffer.baseAddress! + offset, dst = g.pointer
            for i in 0..<p.count {
                let v = src[i]
                if !v.isFinite { finite = false }
                dst[i] = v * scale
            }
            p.grad = g
        }
        return finite
    }

    func reset() {
        packed = Array(repeating: false, count: parameters.count)
        pending = parameters.count
        request = nil
        launched = false
    }
}
