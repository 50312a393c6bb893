/// Geometry of a sliding window over one image: `channels` planes of `height`×`width`,
/// a `kernelH`×`kernelW` window moved by `strideH`/`strideW` over the zero-padded image,
/// giving `outH`×`outW` positions.
public struct WindowGeometry: Equatable, Sendable {
    public var channels, height, width: Int
    public var kernelH, kernelW, strideH, strideW, padH, padW: Int
    public var outH, outW: Int

    public init(channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int,
                strideH: Int, strideW: Int, padH: Int, padW: Int, outH: Int? = nil, outW: Int? = nil) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW; self.padH = padH; self.padW = padW
        self.outH = outH ?? (height + 2 * padH - kernelH) / strideH + 1
        self.outW = outW ?? (width + 2 * padW - kernelW) / strideW + 1
    }

    /// Rows of the column matrix: one per (channel, ky, kx).
    public var columnRows: Int { channels * kernelH * kernelW }
    /// Columns of the column matrix: one per output position.
    public var columnCols: Int { outH * outW }
    /// True when the column matrix is the image itself (1x1 kernel, stride 1, no padding).
    public var isIdentity: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0
    }

    /// Output columns `ox` whose input column `ox*stride - pad + kx` falls inside the image.
    @inline(__always)
    func validRange(offset: Int, stride: Int, size: Int, count: Int) -> Range<Int> {
        // smallest ox with ox*stride + offset >= 0, largest with ox*stride + offset < size
        let lower = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let upperBound = size - offset <= 0 ? 0 : (size - offset + stride - 1) / stride
        let upper = min(count, upperBound)
        return lower < upper ? lower..<upper : 0..<0
    }
}

/// Unfolds `count` images `[channels, height, width]` (each `imageStride` floats apart) into
/// one matrix `[channels·kh·kw, count·outH·outW]` whose rows are `rowStride` floats apart:
/// image n's columns start at `n·outH·outW`.
public func im2col(_ images: UnsafePointer<Float>, count: Int = 1, imageStride: Int = 0, _ g: WindowGeometry,
                   _ columns: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
    let plane = g.outH * g.outW
    let ld = rowStride ?? plane * count
    let xs = (0..<g.kernelW).map { g.validRange(offset: $0 - g.padW, stride: g.strideW, size: g.width, count: g.outW) }
    Parallel.forEach(g.columnRows, grain: max(1, 4096 / max(plane * count, 1))) { row in
        let kx = row % g.kernelW
        let ky = (row / g.kernelW) % g.kernelH
        let c = row / (g.kernelW * g.kernelH)
        let valid = xs[kx]
        for n in 0..<count {
            let src = images + n * imageStride + c * g.height * g.width
            let dst = columns + row * ld + n * plane
            for oy in 0..<g.outH {
                let iy = oy * g.strideH - g.padH + ky
                let out = dst + oy * g.outW
                if iy < 0 || iy >= g.height {
                    out.update(repeating: 0, count: g.outW)
                    continue
                }
                if valid.lowerBound > 0 { out.update(repeating: 0, count: valid.lowerBound) }
                if valid.upperBound < g.outW { (out + valid.upperBound).update(repeating: 0, count: g.outW - valid.upperBound) }
                let line = src + iy * g.width + (kx - g.padW)
                if g.strideW == 1 {
                    (out + valid.lowerBound).update(from: line + valid.lowerBound, count: valid.count)
                } else {
                    for ox in valid { out[ox] = line[ox * g.strideW] }
                }
            }
        }
    }
}

/// Folds `[channels·kh·kw, count·outH·outW]` (rows `rowStride` apart) back into `count`
/// images, adding every window's share (the adjoint of `im2col`). The images are accumulated
/// into, not overwritten.
public func col2im(_ columns: UnsafePointer<Float>, count: Int = 1, _ g: WindowGeometry, _ images: UnsafeMutablePointer<Float>,
                   imageStride: Int = 0, rowStride: Int? = nil) {
    let plane = g.outH * g.outW
    let ld = rowStride ?? plane * count
    // Windows of one channel overlap, so threads split by (image, channel).
    Parallel.forEach(count * g.channels) { nc in
        let n = nc / g.channels, c = nc % g.channels
        let dstPlane = images + n * imageStride + c * g.height * g.width
        for ky in 0..<g.kernelH {
            for kx in 0..<g.kernelW {
                let row = (c * g.kernelH + ky) * g.kernelW + kx
                let src = columns + row * ld + n * plane
                let xs = g.validRange(offset: kx - g.padW, stride: g.strideW, size: g.width, count: g.outW)
                for oy in 0..<g.outH {
                    let iy = oy * g.strideH - g.padH + ky
                    if iy < 0 || iy >= g.height { continue }
                    let line = dstPlane + iy * g.width + (kx - g.padW)
                    let col = src + oy * g.outW
                    if g.strideW == 1 {
                        for ox in xs { line[ox] += col[ox] }
                    } else {
                        for ox in xs { line[ox * g.strideW] += col[ox] }
                    }
                }
            }
        }
    }
}
