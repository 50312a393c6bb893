import Kernels
#if canImport(Glibc)
import Glibc
@inline(__always) func _sin(_ x: Double) -> Double { Glibc.sin(x) }
#else
import Darwin
@inline(__always) func _sin(_ x: Double) -> Double { Darwin.sin(x) }
#endif

/// Classification images of any shape, made on the fly from the seed: each class has its
/// own smooth pattern (a sum of a row and a column profile per channel), every image adds
/// uniform noise to its class's pattern. The class is learnable, so the loss falls; no files.
public struct SyntheticImages: Dataset {
    public let count: Int
    public let classCount: Int
    public let sampleShape: [Int]
    public let seed: UInt64
    /// Per class and channel: a row profile (height values) and a column profile (width values).
    let profiles: [Float]
    public let noise: Float

    public init(count: Int, classes: Int, shape: [Int] = [3, 224, 224], seed: UInt64, noise: Float = 1) {
        precondition(shape.count == 3 && count > 0 && classes > 0, "synthetic: shape [C, H, W] and positive counts")
        self.count = count; self.classCount = classes; self.sampleShape = shape; self.seed = seed; self.noise = noise
        let (c, h, w) = (shape[0], shape[1], shape[2])
        var rng = RandomGenerator(seed: seed, stream: 0x5EED)
        var profiles = [Float]()
        profiles.reserveCapacity(classes * c * (h + w))
        for _ in 0..<(classes * c) {
            let (fy, fx) = (1 + rng.uniform() * 3, 1 + rng.uniform() * 3)
            let (py, px) = (rng.uniform() * 6.283, rng.uniform() * 6.283)
            for y in 0..<h { profiles.append(Float(_sin(fy * 6.283 * Double(y) / Double(h) + py))) }
            for x in 0..<w { profiles.append(Float(_sin(fx * 6.283 * Double(x) / Double(w) + px))) }
        }
        self.profiles = profiles
    }

    public var isSegmentation: Bool { false }

    /// The class of sample `index`: a fixed shuffle of `index mod classes`, so classes are balanced.
    public func label(of index: Int) -> Int32 {
        var state = seed ^ UInt64(index)
        return Int32(splitmix64(&state) % UInt64(classCount))
    }

    public func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws {
        let label = label(of: index)
        labels[0] = label
        let (c, h, w) = (sampleShape[0], sampleShape[1], sampleShape[2])
        var rng = RandomGenerator(seed: seed, stream: UInt64(index))
        profiles.withUnsafeBufferPointer { all in
            for ch in 0..<c {
                let base = all.baseAddress! + (Int(label) * c + ch) * (h + w)
                for y in 0..<h {
                    let row = image + (ch * h + y) * w
                    let a = base[y]
                    for x in 0..<w {
                        let u = Float(rng.next() >> 40) * 0x1p-24 - 0.5
                        row[x] = 0.5 * (a + base[h + x]) + noise * 2 * u
                    }
                }
            }
        }
    }
}
