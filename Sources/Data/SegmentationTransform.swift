import Kernels

/// Where an image and its mask land in a `size × size` sample, so that both take the same
/// geometry: images resampled bilinearly, masks by nearest neighbour, padding with a zero
/// byte in the image and the ignore value in the mask.
///
/// Training follows torchvision's segmentation reference (`references/segmentation`):
/// `RandomResize(0.5·size, 2·size)` of the short side, `RandomHorizontalFlip(0.5)`,
/// `RandomCrop(size)` after padding to at least `size` on the right and bottom.
public struct SegmentationTransform: Sendable, Equatable {
    /// Source pixel of resized position 0, and source pixels per resized pixel.
    var originX: Double, originY: Double, scaleX: Double, scaleY: Double
    /// The resized image's extent; positions past it are padding.
    var resizedWidth: Int, resizedHeight: Int
    /// The crop's corner in the (padded) resized image.
    var top: Int, left: Int
    var mirrored: Bool

    /// Short side resized to within [size/2, 2·size].
    public static let scaleRange = (0.5, 2.0)

    static func randomPlacement(width: Int, height: Int, size: Int, seed: UInt64, epoch: Int, index: Int) -> SegmentationTransform {
        var rng = RandomGenerator(seed: seed, stream: UInt64(epoch), UInt64(index))
        let low = Int(Double(size) * scaleRange.0), high = Int(Double(size) * scaleRange.1)
        let short = low + Int(rng.next() % UInt64(high - low + 1))
        // torchvision's resize to an int: the short side becomes `short`, the long side keeps the ratio (truncated).
        let (rw, rh) = width <= height ? (short, Int(Double(short) * Double(height) / Double(width)))
                                       : (Int(Double(short) * Double(width) / Double(height)), short)
        let mirrored = rng.next() & 1 == 1
        let top = Int(rng.next() % UInt64(max(rh, size) - size + 1))
        let left = Int(rng.next() % UInt64(max(rw, size) - size + 1))
        return SegmentationTransform(originX: 0, originY: 0, scaleX: Double(width) / Double(rw), scaleY: Double(height) / Double(rh),
                                     resizedWidth: rw, resizedHeight: rh, top: top, left: left, mirrored: mirrored)
    }

    /// Evaluation and prediction: the centre square of the short side, resized to `size`.
    static func centrePlacement(width: Int, height: Int, size: Int) -> SegmentationTransform {
        let side = Double(min(width, height))
        return SegmentationTransform(originX: (Double(width) - side) / 2, originY: (Double(height) - side) / 2,
                                     scaleX: side / Double(size), scaleY: side / Double(size),
                                     resizedWidth: size, resizedHeight: size, top: 0, left: 0, mirrored: false)
    }

    /// The resized position of output column `ox` (nil in the padding).
    @inline(__always)
    func column(_ ox: Int) -> Int? {
        let rx = left + ox
        guard rx < resizedWidth else { return nil }
        return mirrored ? resizedWidth - 1 - rx : rx
    }

    func image(_ image: DecodedImage, channels: Int, normalization: Normalization, size: Int, into out: UnsafeMutablePointer<Float>) {
        image.pixels.withUnsafeBufferPointer { px in
            for oy in 0..<size {
                let ry = top + oy
                for ox in 0..<size {
                    guard ry < resizedHeight, let rx = column(ox) else {
                        for c in 0..<channels { out[(c * size + oy) * size + ox] = normalization.affine(c).shift }
                        continue
                    }
                    Resize.sample(px, image, y: originY + (Double(ry) + 0.5) * scaleY - 0.5, x: originX + (Double(rx) + 0.5) * scaleX - 0.5,
                                  channels: channels, normalization: normalization, into: out + oy * size + ox, plane: size * size)
                }
            }
        }
    }

    func mask(_ mask: IndexedPNG.Mask, ignore: Int32, size: Int, into out: UnsafeMutablePointer<Int32>) {
        let (mw, mh) = (mask.width, mask.height)
        for oy in 0..<size {
            let ry = top + oy
            for ox in 0..<size {
                guard ry < resizedHeight, let rx = column(ox) else { out[oy * size + ox] = -1; continue }
                let sy = min(Int(originY + (Double(ry) + 0.5) * scaleY), mh - 1)
                let sx = min(Int(originX + (Double(rx) + 0.5) * scaleX), mw - 1)
                let v = mask.values[sy * mw + sx]
                out[oy * size + ox] = v == ignore ? -1 : v
            }
        }
    }
}
