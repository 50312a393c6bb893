/// Adds a weight gradient held in oneDNN's `OIhw16i16o` layout (`ABcd16b16a`: 16×16 tiles of
/// input × output channels, output channels fastest; channel counts padded to 16) into our plain
/// `[O, I, kh, kw]` float32 gradient. oneDNN's backward-weights kernels write this layout, and
/// oneDNN's own reorder with a sum post-op took about twice as long on ResNet-50's weights
/// (docs/mixed-precision.md); here each worker takes whole 16-row output blocks, so every source
/// tile is read from L1 for its 16 output rows and every destination row is read and written
/// once, in order.
enum BlockedWeightGradient {
    /// `plain[o][i][k] += blocked(o, i, k)` for `o < outChannels`, `i < inChannels`, `k < spatial` (kh·kw).
    static func accumulate(_ blocked: UnsafePointer<Float>, into plain: UnsafeMutablePointer<Float>,
                           outChannels: Int, inChannels: Int, spatial: Int) {
        let outBlocks = (outChannels + 15) / 16, inBlocks = (inChannels + 15) / 16
        let tile = 256 * spatial
        Parallel.forEach(outBlocks) { ob in
            for ib in 0..<inBlocks {
                let source = blocked + (ob * inBlocks + ib) * tile
                let inCount = min(16, inChannels - ib * 16)
                for oi in 0..<min(16, outChannels - ob * 16) {
                    let row = plain + ((ob * 16 + oi) * inChannels + ib * 16) * spatial
                    for k in 0..<spatial {
                        let from = source + k * 256 + oi, to = row + k
                        // A full tile's 16 inputs in a loop of constant length, which the compiler unrolls.
                        if inCount == 16 {
                            for ii in 0..<16 { to[ii * spatial] += from[ii * 16] }
                        } else {
                            for ii in 0..<inCount { to[ii * spatial] += from[ii * 16] }
                        }
                    }
                }
            }
        }
    }
}
