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

/// Unfolds one image `[channels, height, width]` into `[channels*kh*kw, outH*outW]`.
public func im2col(_ image: UnsafePointer<Float>, _ g: WindowGeometry, _ columns: UnsafeMutablePointer<Float>) {
    let plane = g.outH * g.outW
    Parallel.forEach(g.columnRows, grain: max(1, 4096 / max(plane, 1))) { row in
        let kx = row % g.kernelW
        let ky = (row / g.kernelW) % g.kernelH
        let c = row / (g.kernelW * g.kernelH)
        let src = image + c * g.height * g.width
        let dst = columns + row * plane
        let xs = g.validRange(offset: kx - g.padW, stride: g.strideW, size: g.width, count: g.outW)
        for oy in 0..<g.outH {
            let iy = oy * g.strideH - g.padH + ky
            let out = dst + oy * g.outW
            if iy < 0 || iy >= g.height {
                out.update(repeating: 0, count: g.outW)
                continue
            }
            if xs.lowerBound > 0 { out.update(repeating: 0, count: xs.lowerBound) }
            if xs.upperBound < g.outW { (out + xs.upperBound).update(repeating: 0, count: g.outW - xs.upperBound) }
            let line = src + iy * g.width + (kx - g.padW)
            if g.strideW == 1 {
                (out + xs.lowerBound).update(from: line + xs.lowerBound, count: xs.count)
            } else {
                for ox in xs { out[ox] = line[ox * g.strideW] }
            }
        }
    }
}

/// Folds `[channels*kh*kw, outH*outW]` back into an image, adding every window's share
/// (the adjoint of `im2col`). `image` is accumulated into, not overwritten.
public func col2im(_ columns: UnsafePointer<Float>, _ g: WindowGeometry, _ image: UnsafeMutablePointer<Float>) {
    let plane = g.outH * g.outW
    // Windows of one channel overlap, so threads split by channel.
    Parallel.forEach(g.channels) { c in
        let dstPlane = image + c * g.height * g.width
        for ky in 0..<g.kernelH {
            for kx in 0..<g.kernelW {
                let row = (c * g.kernelH + ky) * g.kernelW + kx
                let src = columns + row * plane
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
