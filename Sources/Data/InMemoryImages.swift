import Kernels

/// Byte images held in memory (Fashion-MNIST, MNIST, CIFAR), CHW per image, with the
/// small-image training transform: random crop from a zero-padded image and horizontal flip,
/// then normalisation; evaluation normalises only.
public struct InMemoryImages: Dataset {
    public let pixels: [UInt8]
    public let labels: [Int32]
    public let channels: Int, height: Int, width: Int
    public let classCount: Int
    public let normalization: Normalization
    /// Zero padding of the random crop; nil turns augmentation off (evaluation).
    public let cropPadding: Int?
    public let flip: Bool
    public let seed: UInt64

    public init(pixels: [UInt8], labels: [Int32], channels: Int, height: Int, width: Int, classCount: Int,
                normalization: Normalization, cropPadding: Int?, flip: Bool, seed: UInt64) {
        precondition(pixels.count == labels.count * channels * height * width, "images: pixel count does not match labels")
        self.pixels = pixels; self.labels = labels
        self.channels = channels; self.height = height; self.width = width
        self.classCount = classCount; self.normalization = normalization
        self.cropPadding = cropPadding; self.flip = flip; self.seed = seed
    }

    public var count: Int { labels.count }
    public var sampleShape: [Int] { [channels, height, width] }
    public var isSegmentation: Bool { false }

    /// The same images with other transforms (e.g. the evaluation view of a training set).
    public func with(cropPadding: Int?, flip: Bool) -> InMemoryImages {
        InMemoryImages(pixels: pixels, labels: labels, channels: channels, height: height, width: width,
                       classCount: classCount, normalization: normalization, cropPadding: cropPadding, flip: flip, seed: seed)
    }

    /// The first `limit` images, in file order.
    public func prefix(_ limit: Int) -> InMemoryImages {
        let n = min(limit, count), size = channels * height * width
        return InMemoryImages(pixels: Array(pixels[0..<(n * size)]), labels: Array(labels[0..<n]), channels: channels,
                              height: height, width: width, classCount: classCount, normalization: normalization,
                              cropPadding: cropPadding, flip: flip, seed: seed)
    }

    public func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels out: UnsafeMutablePointer<Int32>) throws {
        let plane = height * width
        out[0] = labels[index]
        let (dy, dx, mirrored) = PaddedCropFlip(padding: cropPadding, flip: flip).draw(seed: seed, epoch: epoch, index: index)
        pixels.withUnsafeBufferPointer { all in
            let source = all.baseAddress! + index * channels * plane
            for c in 0..<channels {
                let (scale, shift) = normalization.affine(c)
                let src = source + c * plane
                // A padding pixel is a zero byte.
                PaddedCropFlip.apply(height: height, width: width, dy: dy, dx: dx, mirrored: mirrored, fill: shift,
                                     into: image + c * plane) { sy, sx in Float(src[sy * width + sx]) * scale + shift }
            }
        }
    }
}
