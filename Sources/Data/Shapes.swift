import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// Synthetic segmentation for UNet: circles, rectangles and triangles on a noisy background,
/// with a class per pixel (0 background, 1 circle, 2 rectangle, 3 triangle). Image `index`
/// is the same every epoch; it is made from (seed, index) on demand.
public struct Shapes: Dataset {
    public static let classNames = ["background", "circle", "rectangle", "triangle"]
    public let count: Int
    public let sampleShape: [Int]
    public let seed: UInt64

    public init(count: Int, channels: Int = 3, size: Int = 64, seed: UInt64) {
        precondition(count > 0 && size >= 16, "shapes: count > 0 and size >= 16")
        self.count = count; self.sampleShape = [channels, size, size]; self.seed = seed
    }

    public var classCount: Int { 4 }
    public var isSegmentation: Bool { true }

    public func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws {
        let (channels, size) = (sampleShape[0], sampleShape[1])
        let plane = size * size
        var rng = RandomGenerator(seed: seed, stream: UInt64(index))
        for i in 0..<(channels * plane) { image[i] = Float(rng.uniform() - 0.5) * 0.4 }
        labels.update(repeating: 0, count: plane)
        let shapeCount = 1 + Int(rng.next() % 3)
        let s = Double(size)
        for _ in 0..<shapeCount {
            let kind = 1 + Int(rng.next() % 3)
            let (cx, cy) = (s * (0.2 + 0.6 * rng.uniform()), s * (0.2 + 0.6 * rng.uniform()))
            let r = s * (0.08 + 0.17 * rng.uniform())
            let colour = (0..<channels).map { _ in Float(0.5 + rng.uniform()) * (rng.next() & 1 == 0 ? 1 : -1) }
            for y in 0..<size {
                for x in 0..<size {
                    let (px, py) = (Double(x) + 0.5 - cx, Double(y) + 0.5 - cy)
                    let inside: Bool
                    switch kind {
                    case 1: inside = px * px + py * py <= r * r
                    case 2: inside = abs(px) <= r && abs(py) <= r * 0.7
                    default: inside = py <= r * 0.7 && py >= -r && abs(px) <= (py + r) * 0.6  // apex up
                    }
                    guard inside else { continue }
                    labels[y * size + x] = Int32(kind)
                    for c in 0..<channels { image[c * plane + y * size + x] = colour[c] }
                }
            }
        }
    }
}
