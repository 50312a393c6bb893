import Autograd
import Kernels

/// torchvision's classification recipe's batch mixing (`RandomMixup` and `RandomCutmix` in
/// `references/classification/transforms.py`, chosen with equal chance when both are on): each
/// sample is mixed with its predecessor in the batch (`batch.roll(1, 0)`), λ drawn from
/// Beta(α, α). Mixup blends the whole images; CutMix pastes a box of the predecessor whose side
/// is √(1−λ) of the image's, centred anywhere, and λ becomes the share left uncovered. The
/// target is λ·own + (1−λ)·predecessor's, so the loss is the same mix of two cross-entropies
/// (label smoothing composes, as torchvision's soft targets do). Draws depend on (seed, step,
/// micro-batch): the same on every rank and after a resume.
public struct BatchMixing: Sendable, Equatable {
    public var mixupAlpha: Double
    public var cutmixAlpha: Double

    public init(mixupAlpha: Double = 0, cutmixAlpha: Double = 0) { self.mixupAlpha = mixupAlpha; self.cutmixAlpha = cutmixAlpha }

    public var isEnabled: Bool { mixupAlpha > 0 || cutmixAlpha > 0 }

    public enum Kind: Sendable, Equatable { case mixup, cutmix(x1: Int, y1: Int, x2: Int, y2: Int) }

    /// What a batch was mixed with: the predecessors' labels, and the weight of its own.
    public struct Mix: Sendable, Equatable {
        public let partnerLabels: [Int32]
        public let lambda: Double
        public let kind: Kind
    }

    /// The draw for (seed, step, micro-batch) on images of `height × width`.
    public func draw(seed: UInt64, step: Int, micro: Int, height: Int, width: Int) -> (lambda: Double, kind: Kind) {
        var rng = RandomGenerator(seed: seed, stream: 0x4D49_5855, UInt64(step), UInt64(micro))
        let useCutMix = cutmixAlpha > 0 && (mixupAlpha == 0 || rng.next() & 1 == 1)
        guard useCutMix else { return (rng.beta(mixupAlpha, mixupAlpha), .mixup) }
        let lambda = rng.beta(cutmixAlpha, cutmixAlpha)
        let rx = Int(rng.next() % UInt64(width)), ry = Int(rng.next() % UInt64(height))
        return Self.cutMix(lambda: lambda, centreX: rx, centreY: ry, height: height, width: width)
    }

    /// CutMix's box around (centreX, centreY) for a drawn λ, and the λ it leaves: the share of
    /// the image not covered.
    static func cutMix(lambda: Double, centreX rx: Int, centreY ry: Int, height: Int, width: Int) -> (lambda: Double, kind: Kind) {
        let r = 0.5 * (1 - lambda).squareRoot()
        let (halfW, halfH) = (Int(r * Double(width)), Int(r * Double(height)))
        let (x1, y1) = (max(rx - halfW, 0), max(ry - halfH, 0))
        let (x2, y2) = (min(rx + halfW, width), min(ry + halfH, height))
        return (1 - Double((x2 - x1) * (y2 - y1)) / Double(width * height), .cutmix(x1: x1, y1: y1, x2: x2, y2: y2))
    }

    /// Mixes `batch`'s images in place and says with what.
    public func apply(to batch: Batch, seed: UInt64, step: Int, micro: Int) -> Mix {
        let shape = batch.images.shape
        let (lambda, kind) = draw(seed: seed, step: step, micro: micro, height: shape[2], width: shape[3])
        return Self.mix(batch.images, labels: batch.labels, lambda: lambda, kind: kind)
    }

    /// Mixes `images` (N×C×H×W) in place with their predecessors.
    static func mix(_ images: Tensor, labels: [Int32], lambda: Double, kind: Kind) -> Mix {
        let shape = images.shape
        let (n, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let image = channels * height * width
        let x = images.pointer
        // The last sample's original, which sample 0 mixes with once it has been overwritten.
        let last = Array(UnsafeBufferPointer(start: x + (n - 1) * image, count: image))
        let (own, other) = (Float(lambda), Float(1 - lambda))
        // Backwards, so that sample i−1 is still the original when sample i reads it.
        for i in stride(from: n - 1, through: 0, by: -1) {
            let target = x + i * image
            last.withUnsafeBufferPointer { lastImage in
                let partner = i > 0 ? UnsafePointer(x + (i - 1) * image) : lastImage.baseAddress!
                switch kind {
                case .mixup:
                    for j in 0..<image { target[j] = own * target[j] + other * partner[j] }
                case let .cutmix(x1, y1, x2, y2):
                    for c in 0..<channels { for row in y1..<y2 {
                        let offset = (c * height + row) * width
                        (target + offset + x1).update(from: partner + offset + x1, count: x2 - x1)
                    } }
                }
            }
        }
        return Mix(partnerLabels: (0..<n).map { labels[($0 + n - 1) % n] }, lambda: lambda, kind: kind)
    }
}
