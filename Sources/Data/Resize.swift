/// Bilinear resampling of a crop of an 8-bit HWC image into a normalised CHW square of
/// `channels` (the first of a grey image's equal channels when 1).
enum Resize {
    static func bilinear(_ image: DecodedImage, crop: (x: Double, y: Double, w: Double, h: Double), outSize: Int,
                         mirrored: Bool, normalization: Normalization, channels: Int = 3, into out: UnsafeMutablePointer<Float>) {
        let scaleX = crop.w / Double(outSize), scaleY = crop.h / Double(outSize)
        image.pixels.withUnsafeBufferPointer { px in
            for oy in 0..<outSize {
                let sy = crop.y + (Double(oy) + 0.5) * scaleY - 0.5
                for ox in 0..<outSize {
                    let column = mirrored ? outSize - 1 - ox : ox
                    sample(px, image, y: sy, x: crop.x + (Double(column) + 0.5) * scaleX - 0.5, channels: channels,
                           normalization: normalization, into: out + oy * outSize + ox, plane: outSize * outSize)
                }
            }
        }
    }

    /// One output pixel: the image at (`y`, `x`) in pixel coordinates (clamped to the image),
    /// interpolated between its four neighbours and normalised, for each of `channels` at
    /// `out[c * plane]`.
    @inline(__always)
    static func sample(_ px: UnsafeBufferPointer<UInt8>, _ image: DecodedImage, y: Double, x: Double, channels: Int,
                       normalization: Normalization, into out: UnsafeMutablePointer<Float>, plane: Int) {
        let (iw, ih, ic) = (image.width, image.height, image.channels)
        let sy = min(max(y, 0), Double(ih - 1)), sx = min(max(x, 0), Double(iw - 1))
        let (y0, x0) = (Int(sy), Int(sx))
        let (y1, x1) = (min(y0 + 1, ih - 1), min(x0 + 1, iw - 1))
        let (fy, fx) = (Float(sy - Double(y0)), Float(sx - Double(x0)))
        for c in 0..<channels {
            let ch = min(c, ic - 1)
            func at(_ y: Int, _ x: Int) -> Float { Float(px[(y * iw + x) * ic + ch]) }
            let top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
            let bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
            let (scale, shift) = normalization.affine(c)
            out[c * plane] = (top * (1 - fy) + bottom * fy) * scale + shift
        }
    }
}
