import Foundation
import Kernels

/// How a 4-D image array is laid out: `auto` reads N×C×H×W when the second extent is 1, 3 or
/// 4 and the last is not, N×H×W×C in the opposite case, and asks otherwise.
public enum ArrayLayout: String, Codable, CaseIterable, Sendable { case auto, nchw, nhwc }

/// Images and labels kept as NumPy arrays (`--data npy`): `DIR/train_images.npy`,
/// `DIR/train_labels.npy`, `DIR/val_images.npy`, `DIR/val_labels.npy`, or the same four names as
/// members of one `.npz` (the `--data-dir` itself, or the only `.npz` in it). Images are
/// N×H×W (grey), N×C×H×W or N×H×W×C, `uint8` (scaled to [0, 1]) or float16/float32/float64 (taken
/// as they are); labels are class indices of shape N (classification) or N×H×W masks
/// (segmentation, the ignore value excluded from loss and metrics). Arrays stay memory-mapped.
/// Training augments as the built-in small-image sets do (padded random crop and flip, jointly on
/// a mask); normalisation is `--mean/--std` or computed from the training images and stated.
public struct NumPyImages: Dataset {
    public let images: NumPyArray
    public let labels: NumPyArray
    public let channels: Int, height: Int, width: Int
    public let channelsLast: Bool
    public let classCount: Int
    public let isSegmentation: Bool
    public let normalization: Normalization
    public let ignoreIndex: Int
    public let seed: UInt64
    private(set) var transform: PaddedCropFlip
    /// What was assumed or computed, said at start-up.
    public let notes: [String]

    public struct Options: Sendable {
        public var layout = ArrayLayout.auto
        public var normalization: Normalization?
        public var classes: Int?
        public var ignoreIndex = 255
        public var augment = true
        public init() {}
    }

    /// Crop padding of the training transform: 2 up to 28 pixels (as Fashion-MNIST and MNIST), else 4 (as CIFAR).
    public static func cropPadding(side: Int) -> Int { side <= 28 ? 2 : 4 }
    /// Images the computed mean and std are taken over (evenly spaced through the set).
    public static let statisticsSampleLimit = 10_000

    public init(directory: String, train: Bool, seed: UInt64, options: Options) throws {
        let files = try NumPyFiles(directory)
        let split = train ? "train" : "val"
        images = try files.array("\(split)_images")
        labels = try files.array("\(split)_labels")
        (channels, height, width, channelsLast) = try Self.geometry(images, layout: options.layout)
        let n = images.shape[0]
        if labels.shape.first != n {
            throw DataError(labels.name, "\(labels.shape.first ?? 0) labels for the \(n) images of \(images.name)")
        }
        guard labels.element.isInteger else {
            throw DataError(labels.name, "labels are \(labels.element.rawValue); class indices must be an integer array")
        }
        switch labels.shape.count {
        case 1: isSegmentation = false
        case 3 where labels.shape[1] == height && labels.shape[2] == width: isSegmentation = true
        default:
            throw DataError(labels.name, "shape \(labels.shape): labels must be N class indices or N×\(height)×\(width) masks matching the images")
        }
        ignoreIndex = options.ignoreIndex
        self.seed = seed
        transform = train && options.augment ? PaddedCropFlip(padding: Self.cropPadding(side: height), flip: true) : .none

        var notes = ["npy: \(images.name) \(images.shape.map(String.init).joined(separator: "×")) \(images.element.rawValue), "
                     + "read as \(channelsLast ? "N×H×W×C" : images.shape.count == 3 ? "N×H×W" : "N×C×H×W") (\(channels) channel\(channels == 1 ? "" : "s"))"
                     + (images.shape.count == 4 && options.layout == .auto ? "; --npy-layout nchw|nhwc says otherwise" : "")]
        // Classes and normalisation come from the training split, so both splits agree.
        let trainLabels = train ? labels : try files.array("train_labels")
        let largest = try Self.largestLabel(trainLabels, ignoring: isSegmentation ? options.ignoreIndex : nil)
        if let classes = options.classes {
            classCount = classes
        } else {
            classCount = largest + 1
            notes.append("npy: \(classCount) classes (largest label \(largest) in \(trainLabels.name))")
        }
        if let given = options.normalization {
            normalization = given
        } else {
            let trainImages = train ? images : try files.array("train_images")
            normalization = Self.statistics(trainImages, channels: channels, channelsLast: channelsLast)
            let shown = { (v: [Float]) in v.map { String(format: "%.4f", $0) }.joined(separator: ",") }
            notes.append("npy: normalised by mean \(shown(normalization.mean)) and std \(shown(normalization.std)), computed from "
                         + "\(min(trainImages.shape[0], Self.statisticsSampleLimit)) training images (--mean and --std set them)")
        }
        self.notes = notes
        try checkLabels()
    }

    /// The same arrays as evaluation sees them.
    public func unaugmented() -> NumPyImages {
        var copy = self
        copy.transform = .none
        return copy
    }

    public var count: Int { images.shape[0] }
    public var sampleShape: [Int] { [channels, height, width] }
    public var preprocessing: Preprocessing? {
        Preprocessing(channels: channels, size: height, cropFraction: 1, normalization: normalization)
    }

    /// (C, H, W, channels last) of an image array, or why it cannot be read as images.
    static func geometry(_ array: NumPyArray, layout: ArrayLayout) throws -> (Int, Int, Int, Bool) {
        let s = array.shape
        let result: (Int, Int, Int, Bool)
        switch (s.count, layout) {
        case (3, _): result = (1, s[1], s[2], false)
        case (4, .nchw): result = (s[1], s[2], s[3], false)
        case (4, .nhwc): result = (s[3], s[1], s[2], true)
        case (4, .auto):
            let plausible: Set<Int> = [1, 3, 4]
            if plausible.contains(s[1]) && !plausible.contains(s[3]) { result = (s[1], s[2], s[3], false) }
            else if plausible.contains(s[3]) && !plausible.contains(s[1]) { result = (s[3], s[1], s[2], true) }
            else { throw DataError(array.name, "shape \(s): cannot tell N×C×H×W from N×H×W×C; say --npy-layout nchw or nhwc") }
        default: throw DataError(array.name, "shape \(s): images must be N×H×W, N×C×H×W or N×H×W×C")
        }
        guard s[0] > 0, result.0 > 0, result.1 > 0 else { throw DataError(array.name, "shape \(s) holds no images") }
        guard result.1 == result.2 else {
            throw DataError(array.name, "images are \(result.1)×\(result.2); square images are read (resize or crop them first)")
        }
        return result
    }

    static func largestLabel(_ labels: NumPyArray, ignoring ignore: Int?) throws -> Int {
        var largest: Int64 = -1
        for i in 0..<labels.count {
            let v = labels.integer(i)
            if let ignore, v == Int64(ignore) { continue }
            largest = max(largest, v)
        }
        guard largest >= 0 else { throw DataError(labels.name, "no labels to count the classes from (pass --num-classes)") }
        return Int(largest)
    }

    /// Every label a class index below `classCount` (or, in a mask, the ignore value).
    func checkLabels() throws {
        let perSample = isSegmentation ? height * width : 1
        for i in 0..<labels.count {
            let v = labels.integer(i)
            if isSegmentation && v == Int64(ignoreIndex) { continue }
            guard v < 0 || v >= Int64(classCount) else { continue }
            throw DataError(labels.name, "sample \(i / perSample) has label \(v), outside 0..<\(classCount)"
                            + (isSegmentation ? " and not the ignore value \(ignoreIndex) (--ignore-index)" : "")
                            + " (--num-classes sets the classes)")
        }
    }

    /// Per-channel mean and (population) standard deviation of the values as the model would
    /// see them before normalisation ([0, 1] for bytes), over evenly spaced images.
    static func statistics(_ images: NumPyArray, channels: Int, channelsLast: Bool) -> Normalization {
        let n = images.shape[0], perImage = images.count / n, plane = perImage / channels
        let taken = min(n, statisticsSampleLimit)
        let scale: Double = images.element == .uint8 ? 1.0 / 255 : 1
        var sum = [Double](repeating: 0, count: channels), squares = sum
        for k in 0..<taken {
            let base = (k * n / taken) * perImage
            for c in 0..<channels {
                var s = 0.0, q = 0.0
                for p in 0..<plane {
                    let v = Double(images.float(base + (channelsLast ? p * channels + c : c * plane + p))) * scale
                    s += v; q += v * v
                }
                sum[c] += s; squares[c] += q
            }
        }
        let total = Double(taken * plane)
        let mean = sum.map { $0 / total }
        let std = zip(squares, mean).map { max(($0 / total - $1 * $1).squareRoot(), 1e-6) }
        return Normalization(mean: mean.map(Float.init), std: std.map(Float.init))
    }

    public func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels out: UnsafeMutablePointer<Int32>) throws {
        let plane = height * width
        let (dy, dx, mirrored) = transform.draw(seed: seed, epoch: epoch, index: index)
        let base = index * channels * plane
        for c in 0..<channels {
            // The same arithmetic as the built-in byte sets, so a set written out as .npy trains identically.
            let (scale, shift) = images.element == .uint8 ? normalization.affine(c) : normalization.unitAffine(c)
            let (pixelStride, channelOffset) = channelsLast ? (channels, c) : (1, c * plane)
            PaddedCropFlip.apply(height: height, width: width, dy: dy, dx: dx, mirrored: mirrored, fill: shift,
                                 into: image + c * plane) { sy, sx in
                images.float(base + channelOffset + (sy * width + sx) * pixelStride) * scale + shift
            }
        }
        if isSegmentation {
            let ignore = Int64(ignoreIndex), maskBase = index * plane
            PaddedCropFlip.apply(height: height, width: width, dy: dy, dx: dx, mirrored: mirrored, fill: Int32(-1), into: out) { sy, sx in
                let v = labels.integer(maskBase + sy * width + sx)
                return v == ignore ? -1 : Int32(v)
            }
        } else {
            out[0] = Int32(labels.integer(index))
        }
    }
}

/// Where the four arrays are: `.npy` files in a folder, or members of one `.npz`.
struct NumPyFiles {
    let directory: String
    let archive: ZipArchive?

    init(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataError(path, "not found") }
        directory = path
        if !isDirectory.boolValue {
            archive = try ZipArchive(MappedFile(path))
        } else if FileManager.default.fileExists(atPath: "\(path)/train_images.npy") {
            archive = nil
        } else {
            let archives = (try? FileManager.default.contentsOfDirectory(atPath: path))?.filter { $0.hasSuffix(".npz") }.sorted() ?? []
            guard archives.count == 1 else {
                throw DataError(path, archives.isEmpty
                    ? "no train_images.npy (with train_labels.npy, val_images.npy, val_labels.npy) and no .npz archive holding them"
                    : "several .npz archives (\(archives.joined(separator: ", "))); pass the one to read as --data-dir")
            }
            archive = try ZipArchive(MappedFile("\(path)/\(archives[0])"))
        }
    }

    func array(_ name: String) throws -> NumPyArray {
        guard let archive else { return try NumPyArray(path: "\(directory)/\(name).npy") }
        let member = try archive.contents("\(name).npy")
        return try NumPyArray(bytes: member.bytes, name: "\(archive.file.path): \(name)", owner: member)
    }
}
