import Data

/// A predicted mask drawn over the image it was predicted from, for a person to look at: each
/// class but the background (class 0) tints its pixels half-way towards its colour in Pascal
/// VOC's palette, the colours segmentation users know.
public enum SegmentationOverlay {
    /// Class `index`'s colour in VOC's palette (bit-interleaved from the index).
    public static func colour(_ index: Int) -> (UInt8, UInt8, UInt8) {
        var (r, g, b) = (0, 0, 0)
        var c = index
        for bit in 0..<8 {
            r |= (c & 1) << (7 - bit)
            g |= (c >> 1 & 1) << (7 - bit)
            b |= (c >> 2 & 1) << (7 - bit)
            c >>= 3
        }
        return (UInt8(r), UInt8(g), UInt8(b))
    }

    /// `view` (RGB, the model's input size) with `mask` (one class index per pixel, same size) over it.
    public static func render(view: DecodedImage, mask: DecodedImage) -> DecodedImage {
        precondition(view.width == mask.width && view.height == mask.height && view.channels == 3 && mask.channels == 1)
        var pixels = view.pixels
        for p in 0..<(mask.width * mask.height) where mask.pixels[p] != 0 {
            let (r, g, b) = colour(Int(mask.pixels[p]))
            for (c, tint) in [r, g, b].enumerated() {
                pixels[p * 3 + c] = UInt8((Int(pixels[p * 3 + c]) + Int(tint) + 1) / 2)
            }
        }
        return DecodedImage(width: view.width, height: view.height, channels: 3, pixels: pixels)
    }
}
