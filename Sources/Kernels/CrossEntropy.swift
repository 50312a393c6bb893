#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Cross-entropy from logits laid out `[batch, classes, positions]` (positions = 1 for
/// classification, H·W for segmentation) with labels `[batch, positions]`, averaged over the
/// labelled positions. Labels below 0 are ignored (PyTorch's `ignore_index=-100`).
/// With label smoothing ε the target is `(1 − ε)·onehot + ε/classes`.
public enum CrossEntropyKernel {
    /// Returns the mean loss and writes its gradient with respect to the logits into `dLogits`.
    public static func forwardBackward(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                                       batch: Int, classes: Int, positions: Int, labelSmoothing: Float,
                                       dLogits: UnsafeMutablePointer<Float>) -> (loss: Double, counted: Int) {
        var counted = 0
        for i in 0..<(batch * positions) where labels[i] >= 0 { counted += 1 }
        let weightOfEach = counted > 0 ? 1 / Float(counted) : 0
        let lossPerSample = UnsafeMutablePointer<Double>.allocate(capacity: batch)
        defer { lossPerSample.deallocate() }
        let offTarget = labelSmoothing / Float(classes)
        let onTarget = 1 - labelSmoothing + offTarget
        Parallel.forEach(batch, grain: max(1, 4096 / max(classes * positions, 1))) { n in
            var total: Double = 0
            let base = n * classes * positions
            for p in 0..<positions {
                let label = Int(labels[n * positions + p])
                precondition(label < classes, "cross_entropy: label \(label) is out of range for \(classes) classes")
                var peak = -Float.infinity
                for c in 0..<classes { peak = max(peak, logits[base + c * positions + p]) }
                var sumExp: Float = 0
                for c in 0..<classes { sumExp += expf(logits[base + c * positions + p] - peak) }
                let logSum = logf(sumExp) + peak
                if label < 0 {
                    for c in 0..<classes { dLogits[base + c * positions + p] = 0 }
                    continue
                }
                var loss: Float = 0
                for c in 0..<classes {
                    let index = base + c * positions + p
                    let logProbability = logits[index] - logSum
                    let target = c == label ? onTarget : offTarget
                    loss -= target * logProbability
                    dLogits[index] = (expf(logProbability) - target) * weightOfEach
                }
                total += Double(loss)
            }
            lossPerSample[n] = total
        }
        var loss: Double = 0
        for n in 0..<batch { loss += lossPerSample[n] }
        return (counted > 0 ? loss / Double(counted) : 0, counted)
    }
}
