import Foundation
import Kernels

/// ImageNet's layout: `root/train/<class>/*.JPEG`, `root/val/<class>/*`; classes sorted by
/// folder name. Training uses torchvision's recipe (random-resized crop to `size`, scale
/// 0.08–1, ratio 3/4–4/3, horizontal flip); evaluation resizes the short side to
/// `size·256/224` and centre-crops `size`. ImageNet's mean and std normalise.
public struct ImageFolder: Dataset {
    public let files: [String]
    public let fileLabels: [Int32]
    public let classNames: [String]
    public let size: Int
    public let train: Bool
    public let seed: UInt64
    public let normalization: Normalization
    public let autoAugment: AutoAugmentPolicy

    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]
    /// Evaluation's centre crop: 224 of a short side resized to 256.
    public static let evalCropFraction = 224.0 / 256

    public init(root: String, split: String, size: Int = 224, train: Bool, seed: UInt64,
                normalization: Normalization = .imageNet, autoAugment: AutoAugmentPolicy = .none) throws {
        let folder = "\(root)/\(split)"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError(folder, "folder not found (expected \(root)/\(split)/<class>/<images>)")
        }
        let classes = try FileManager.default.contentsOfDirectory(atPath: folder).filter { name in
            var dir: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(folder)/\(name)", isDirectory: &dir) && dir.boolValue
        }.sorted()
        guard !classes.isEmpty else { throw DataError(folder, "no class folders") }
        var files: [String] = [], labels: [Int32] = []
        for (label, name) in classes.enumerated() {
            let images = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/\(name)")
                .filter { Self.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            guard !images.isEmpty else { throw DataError("\(folder)/\(name)", "class folder has no JPEG or PNG images") }
            files += images.map { "\(folder)/\(name)/\($0)" }
            labels += Array(repeating: Int32(label), count: images.count)
        }
        self.files = files; self.fileLabels = labels; self.classNames = classes
        self.size = size; self.train = train; self.seed = seed; self.normalization = normalization
        self.autoAugment = train ? autoAugment : .none
    }

    public var count: Int { files.count }
    public var classCount: Int { classNames.count }
    public var sampleShape: [Int] { [3, size, size] }
    public var isSegmentation: Bool { false }

    public func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws {
        let decoded = try ImageCodec.decode(file: files[index])
        labels[0] = fileLabels[index]
        let (w, h) = (Double(decoded.width), Double(decoded.height))
        var crop: (x: Double, y: Double, w: Double, h: Double)
        var mirrored = false
        if train {
            var rng = RandomGenerator(seed: seed, stream: UInt64(epoch), UInt64(index))
            crop = Self.randomResizedCrop(width: w, height: h, rng: &rng)
            mirrored = rng.next() & 1 == 1
        } else {
            // Resize the short side to size·256/224, centre-crop size: a square of side short·224/256.
            crop = Preprocessing.centreSquare(width: decoded.width, height: decoded.height, fraction: Self.evalCropFraction)
        }
        guard autoAugment == .trivialAugmentWide else {
            Resize.bilinear(decoded, crop: crop, outSize: size, mirrored: mirrored, normalization: normalization, into: image)
            return
        }
        // As torchvision's recipe: the crop as 8-bit pixels, TrivialAugmentWide on them, then normalisation.
        let plane = size * size
        Resize.bilinear(decoded, crop: crop, outSize: size, mirrored: mirrored, normalization: .identity,
                        into: image)
        var bytes = (0..<(3 * plane)).map { UInt8(min(max(image[$0].rounded(.toNearestOrEven), 0), 255)) }
        var rng = RandomGenerator(seed: seed, stream: 0x5441_5744, UInt64(epoch), UInt64(index))
        let (op, magnitude) = TrivialAugmentWide.draw(&rng)
        TrivialAugmentWide.apply(op, magnitude: magnitude, to: &bytes, channels: 3, height: size, width: size)
        for c in 0..<3 {
            let (scale, shift) = normalization.affine(c)
            for p in 0..<plane { image[c * plane + p] = Float(bytes[c * plane + p]) * scale + shift }
        }
    }

    /// torchvision's `RandomResizedCrop.get_params`: ten tries at an area in [0.08, 1] of the
    /// image and a log-uniform aspect ratio in [3/4, 4/3], else a centre crop.
    static func randomResizedCrop(width: Double, height: Double, rng: inout RandomGenerator) -> (x: Double, y: Double, w: Double, h: Double) {
        let area = width * height
        for _ in 0..<10 {
            let target = area * (0.08 + 0.92 * rng.uniform())
            let logRatio = log(3.0 / 4) + (log(4.0 / 3) - log(3.0 / 4)) * rng.uniform()
            let ratio = exp(logRatio)
            let w = (target * ratio).squareRoot().rounded(), h = (target / ratio).squareRoot().rounded()
            if w > 0 && h > 0 && w <= width && h <= height {
                let x = (rng.uniform() * (width - w + 1)).rounded(.down), y = (rng.uniform() * (height - h + 1)).rounded(.down)
                return (x, y, w, h)
            }
        }
        let ratio = width / height
        let (w, h) = ratio < 3.0 / 4 ? (width, (width / (3.0 / 4)).rounded()) : ratio > 4.0 / 3 ? ((height * 4 / 3).rounded(), height) : (width, height)
        return ((width - w) / 2, (height - h) / 2, w, h)
    }
}
