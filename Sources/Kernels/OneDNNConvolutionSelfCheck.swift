import Dispatch
import Foundation

/// The start-up checks that oneDNN's convolutions can be trusted (what went wrong with oneDNN's
/// shared scratchpad must not reach training): a small convolution, forward and both gradients,
/// agrees with our float32 kernels on the same (rounded) operands, and gives the same bits when
/// two threads run it at once as when one runs it alone.
extension OneDNNConvolution {
    /// On our plain float32 tensors, in `element`.
    static func passesSelfCheck(_ element: OneDNN.Element) -> Bool {
        let s = Conv2dShape(batch: 2, inChannels: 8, height: 7, width: 6, outChannels: 16, kernelH: 3, kernelW: 3, padH: 1, padW: 1)
        return selfCheck(s, element, seed: 11, relative: 0) { x, w, dy in
            var y = [Float](repeating: 0, count: s.outputCount), dx = [Float](repeating: 0, count: s.inputCount)
            var dW = [Float](repeating: 0, count: s.weightCount)
            guard forward(element, s, x: x, weight: w, bias: nil, y: &y),
                  backward(element, s, x: x, weight: w, dy: dy, dx: &dx, dWeight: &dW) else { return nil }
            return y + dx + dW
        }
    }

    /// On the path bf16-mixed trains on: x, y, dx and dy held blocked in `element`
    /// (`TensorFormat.blocked`), read and written by the primitives as they are; y and dx are
    /// within their own rounding (bf16 keeps 8 significant bits).
    static func passesBlockedSelfCheck(_ element: OneDNN.Element) -> Bool {
        let s = Conv2dShape(batch: 2, inChannels: 16, height: 7, width: 6, outChannels: 32, kernelH: 3, kernelW: 3, padH: 1, padW: 1)
        let format = TensorFormat.blocked(element)
        let inShape = [s.batch, s.inChannels, s.height, s.width], outShape = [s.batch, s.outChannels, s.outH, s.outW]
        @Sendable func converted(_ values: [Float], _ shape: [Int], from: TensorFormat, to: TensorFormat) -> [Float] {
            var out = [Float](repeating: 0, count: to.storageFloats(shape.reduce(1, *)))
            FormatConversion.convert(shape, from: from, values, to: to, &out)
            return out
        }
        return selfCheck(s, element, seed: 12, relative: element == .bf16 ? 1.0 / 128 : 0) { x, w, dy in
            let bx = converted(x, inShape, from: .plain, to: format), bdy = converted(dy, outShape, from: .plain, to: format)
            var by = [Float](repeating: 0, count: format.storageFloats(s.outputCount))
            var bdx = [Float](repeating: 0, count: format.storageFloats(s.inputCount))
            var dW = [Float](repeating: 0, count: s.weightCount)
            let ok = by.withUnsafeMutableBytes { y in
                bdx.withUnsafeMutableBytes { dx in
                    forward(element, s, x: bx, format, weight: w, bias: nil, y: y.baseAddress!, format)
                        && backward(element, s, x: bx, format, weight: w, dy: bdy, format, dx: dx.baseAddress!, dWeight: &dW)
                }
            }
            guard ok else { return nil }
            return converted(by, outShape, from: format, to: .plain) + converted(bdx, inShape, from: format, to: .plain) + dW
        }
    }

    /// Runs `viaOneDNN` (y, dx and dW of `s`, concatenated, or nil when oneDNN refused) on random
    /// operands rounded to `element`, compares it with our float32 kernels (within 1e-4 plus
    /// `relative` of each value), then runs it from two threads at once, three times each, for
    /// the same bits.
    private static func selfCheck(_ s: Conv2dShape, _ element: OneDNN.Element, seed: UInt64, relative: Float,
                                  _ viaOneDNN: @escaping @Sendable ([Float], [Float], [Float]) -> [Float]?) -> Bool {
        var rng = RandomGenerator(seed: seed)
        func values(_ n: Int) -> [Float] {
            var v = (0..<n).map { _ in Float(rng.uniform() * 2 - 1) }
            if element == .bf16 { BFloat16.round(v, count: n, into: &v) }
            return v
        }
        let x = values(s.inputCount), w = values(s.weightCount), dy = values(s.outputCount)
        guard let alone = viaOneDNN(x, w, dy) else { return false }
        let expected: [Float] = ComputePrecision.with(.fp32) {
            var y = [Float](repeating: 0, count: s.outputCount), dx = [Float](repeating: 0, count: s.inputCount)
            var dW = [Float](repeating: 0, count: s.weightCount)
            var workspace = [Float](repeating: 0, count: max(Conv2dKernel.backwardWorkspaceCount(s), 1))
            Conv2dKernel.forward(s, x: x, weight: w, bias: nil, y: &y, workspace: &workspace)
            Conv2dKernel.backward(s, x: x, weight: w, dy: dy, dx: &dx, dWeight: &dW, dBias: nil, workspace: &workspace)
            return y + dx + dW
        }
        guard alone.count == expected.count,
              zip(alone, expected).allSatisfy({ abs($0 - $1) <= 1e-4 + relative * abs($1) }) else { return false }
        let together = UncheckedSendable(NSLock())
        nonisolated(unsafe) var agree = true
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            for _ in 0..<3 {
                let bits = viaOneDNN(x, w, dy)?.map(\.bitPattern)
                if bits != alone.map(\.bitPattern) { together.value.withLock { agree = false } }
            }
        }
        return agree
    }
}
