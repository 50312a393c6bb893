import Foundation
import Kernels

/// torchvision's `RandomErasing(p, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0)` over a training
/// set, the last step of its classification recipe (after normalisation, so the box becomes 0):
/// with probability `p`, up to ten tries at a box of a uniform share of the area and a
/// log-uniform aspect ratio that fits inside the image, placed uniformly. Draws depend on
/// (seed, epoch, index), on their own stream.
public struct RandomErasing: Dataset {
    public let base: Dataset
    public let probability: Double
    public let seed: UInt64
    public static let scale = (0.02, 0.33), ratio = (0.3, 3.3)

    public init(_ base: Dataset, probability: Double, seed: UInt64) {
        self.base = base; self.probability = probability; self.seed = seed
    }

    public var count: Int { base.count }
    public var classCount: Int { base.classCount }
    public var sampleShape: [Int] { base.sampleShape }
    public var isSegmentation: Bool { base.isSegmentation }
    public var preprocessing: Preprocessing? { base.preprocessing }
    public var notes: [String] { base.notes }

    /// The box (top, left, height, width) erased from sample `index` of `epoch`, if any.
    public func box(index: Int, epoch: Int) -> (top: Int, left: Int, height: Int, width: Int)? {
        var rng = RandomGenerator(seed: seed, stream: 0x4552_4153, UInt64(epoch), UInt64(index))
        guard rng.uniform() < probability else { return nil }
        let (height, width) = (sampleShape[1], sampleShape[2])
        let area = Double(height * width)
        let (logLow, logHigh) = (log(Self.ratio.0), log(Self.ratio.1))
        for _ in 0..<10 {
            let erased = area * (Self.scale.0 + (Self.scale.1 - Self.scale.0) * rng.uniform())
            let aspect = exp(logLow + (logHigh - logLow) * rng.uniform())
            // Python's round: halves to even.
            let h = Int((erased * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((erased / aspect).squareRoot().rounded(.toNearestOrEven))
            guard h < height && w < width else { continue }
            let top = Int(rng.next() % UInt64(height - h + 1)), left = Int(rng.next() % UInt64(width - w + 1))
            return (top, left, h, w)
        }
        return nil
    }

    public func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws {
        try base.load(index, epoch: epoch, image: image, labels: labels)
        guard let box = box(index: index, epoch: epoch) else { return }
        let (channels, height, width) = (sampleShape[0], sampleShape[1], sampleShape[2])
        for c in 0..<channels {
            for row in box.top..<(box.top + box.height) {
                (image + (c * height + row) * width + box.left).update(repeating: 0, count: box.width)
            }
        }
    }
}
