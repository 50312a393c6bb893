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
        var dy = 0, dx = 0, mirrored = false
        if cropPadding != nil || flip {
            var rng = RandomGenerator(seed: seed, stream: UInt64(epoch), UInt64(index))
            if let p = cropPadding, p > 0 {
                dy = Int(rng.next() % UInt64(2 * p + 1)) - p
                dx = Int(rng.next() % UInt64(2 * p + 1)) - p
            }
            if flip { mirrored = rng.next() & 1 == 1 }
        }
        pixels.withUnsafeBufferPointer { all in
            let source = all.baseAddress! + index * channels * plane
            for c in 0..<channels {
                let (scale, shift) = normalization.affine(c)
                let src = source + c * plane, dst = image + c * plane
                for y in 0..<height {
                    let sy = y + dy
                    let row = dst + y * width
                    guard sy >= 0 && sy < height else {
                        row.update(repeating: shift, count: width)  // padding is a zero byte
                        continue
                    }
                    for x in 0..<width {
                        let sx = (mirrored ? width - 1 - x : x) + dx
                        row[x] = sx >= 0 && sx < width ? Float(src[sy * width + sx]) * scale + shift : shift
                    }
                }
            }
        }
    }
}
