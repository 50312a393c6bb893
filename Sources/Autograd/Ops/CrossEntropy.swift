import Kernels

/// `F.cross_entropy(logits, labels, label_smoothing=ε)`, mean over labelled positions.
/// Logits are `[N, C]` with labels `[N]`, or `[N, C, H, W]` with labels `[N, H, W]` flattened
/// (segmentation). Labels below 0 are ignored.
public func crossEntropy(_ logits: Tensor, labels: [Int32], labelSmoothing: Float = 0) -> Tensor {
    precondition(logits.rank >= 2, "cross_entropy: logits need [N, C, ...], got \(logits.shape)")
    let (n, c) = (logits.shape[0], logits.shape[1])
    let positions = logits.shape.dropFirst(2).reduce(1, *)
    precondition(labels.count == n * positions, "cross_entropy: \(labels.count) labels for logits \(logits.shape)")
    precondition(labels.allSatisfy { $0 < c }, "cross_entropy: a label is out of range for \(c) classes")
    let grad = Tensor(uninitialized: logits.shape)
    let (loss, _) = labels.withUnsafeBufferPointer { l in
        CrossEntropyKernel.forwardBackward(logits: logits.pointer, labels: l.baseAddress!, batch: n, classes: c,
                                           positions: positions, labelSmoothing: labelSmoothing, dLogits: grad.pointer)
    }
    let y = Tensor(scalar: Float(loss))
    return y.record(.crossEntropy, inputs: [logits]) { dy in
        let scale = dy.pointer[0]
        if scale != 1 { ElementwiseKernel.scale(grad.pointer, by: scale, into: grad.pointer, count: grad.count) }
        return [grad]
    }
}
