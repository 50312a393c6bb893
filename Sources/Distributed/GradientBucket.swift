import Autograd
import Kernels

/// Gradients of a few parameters packed into one flat buffer, all-reduced as one message.
/// Each parameter's `grad` is a view of its place in the buffer for as long as the bucket
/// lives (PyTorch's `gradient_as_bucket_view`, kept across steps as llm.c keeps all gradients
/// in one allocation): backward adds into it (convolutions and linear layers straight from
/// their kernels), zeroing is a fill, and the reduced values need no copy back.
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
    /// The bucket as bf16 while it travels (`GradientCompression.bf16`).
    let wire: UnsafeMutableBufferPointer<UInt16>?
    /// Low-rank factors with error feedback (`GradientCompression.powerSGD`).
    let powerSGD: PowerSGDBucket?
    /// This step's bucket goes through PowerSGD (false during its warm-up steps).
    var compressing = false
    /// PowerSGD's second exchange (Q), started once the first has arrived.
    var secondRequest: PendingCollective?

    init(parameters: [Tensor], compression: GradientCompression = .none, powerSGDRank: Int = 4, index: Int = 0) {
        self.parameters = parameters
        var offsets: [Int] = [], total = 0
        for p in parameters { offsets.append(total); total += p.count }
        self.offsets = offsets
        buffer = .allocate(capacity: total)
        buffer.initialize(repeating: 0)
        packed = Array(repeating: false, count: parameters.count)
        pending = parameters.count
        wire = compression == .bf16 ? .allocate(capacity: total) : nil
        wire?.initialize(repeating: 0)
        powerSGD = compression == .powerSGD
            ? PowerSGDBucket(parameters: parameters, offsets: offsets, count: total, rank: powerSGDRank, seed: UInt64(index))
            : nil
        for (index, p) in parameters.enumerated() {
            if let g = p.grad { buffer.baseAddress!.advanced(by: offsets[index]).update(from: g.pointer, count: p.count) }
            p.grad = view(index)
            p.keepsGradStorage = true
        }
    }

    /// Hands the parameters their gradients back as memory of their own (the views keep the
    /// bucket alive, and the bucket its parameters).
    func release() {
        for (index, p) in parameters.enumerated() where p.grad?.pointer == buffer.baseAddress! + offsets[index] {
            p.grad = Tensor(copying: p.grad!)
            p.keepsGradStorage = false
        }
    }

    deinit {
        buffer.deallocate()
        wire?.deallocate()
    }

    /// Starts the bucket's all-reduce: PowerSGD's first exchange when compressing, through bf16
    /// when it has a wire buffer, else the float32 values.
    func startAllReduce(_ communicator: Communicator) -> PendingCollective {
        if compressing, let powerSGD { return powerSGD.start(buffer, communicator: communicator) }
        guard let wire else { return communicator.startAllReduceSum(buffer) }
        BFloat16.convert(buffer.baseAddress!, count: buffer.count, into: wire.baseAddress!)
        return communicator.startAllReduceSumBF16(wire)
    }

    /// After the first all-reduce has arrived: PowerSGD's second exchange, when compressing.
    func startSecondExchange(_ communicator: Communicator) {
        guard compressing, let powerSGD else { return }
        secondRequest = powerSGD.exchangeQ(communicator: communicator)
    }

    /// After the all-reduces: the summed gradients in the float32 buffer (PowerSGD's
    /// approximation, or the bf16 result widened).
    func receive(worldSize: Int) {
        if compressing, let powerSGD {
            secondRequest?.wait()
            powerSGD.finish(into: buffer, worldSize: worldSize)
            return
        }
        guard let wire else { return }
        let values = buffer.baseAddress!
        for i in 0..<buffer.count { values[i] = Float(bitPattern: UInt32(wire[i]) << 16) }
    }

    var byteCount: Int { buffer.count * MemoryLayout<Float>.stride }

    /// Marks `p`'s gradient as complete for this step, first copying it into place (zeros if it
    /// has none) when something replaced the view; returns false if it holds NaN or ±Inf.
    func pack(_ index: Int) -> Bool {
        if !packed[index] {
            packed[index] = true
            pending -= 1
        }
        let p = parameters[index]
        let dst = buffer.baseAddress! + offsets[index]
        if p.grad?.pointer != dst {
            if let g = p.grad { dst.update(from: g.pointer, count: p.count) } else { dst.update(repeating: 0, count: p.count) }
            p.grad = view(index)
        }
        return ElementwiseKernel.allFinite(dst, count: p.count)
    }

    /// `grad` of parameter `index` as a view of the bucket.
    func view(_ index: Int) -> Tensor {
        let p = parameters[index]
        return Tensor(shape: p.shape, storage: Storage(borrowing: buffer.baseAddress! + offsets[index], count: p.count, owner: self))
    }

    /// Scales the reduced values by `scale` in place (every parameter's `grad` views them since
    /// `pack`); returns whether every reduced value is finite, and their sum of squares.
    func unpack(scale: Float) -> (finite: Bool, sumOfSquares: Double) {
        ElementwiseKernel.scaleCheckingFinite(buffer.baseAddress!, count: buffer.count, by: scale)
    }

    func reset() {
        packed = Array(repeating: false, count: parameters.count)
        pending = parameters.count
        request = nil
        secondRequest = nil
        launched = false
    }
}
