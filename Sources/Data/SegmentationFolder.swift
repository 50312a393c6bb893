import Foundation
import Kernels

/// Images and their masks (`--data segfolder`): `root/train/images/*` with `root/train/masks/*`
/// (and `val/`), paired by file stem. Images are JPEG or PNG; a mask is a grey or palette PNG
/// whose value is the class index, `ignoreIndex` (255, VOC's and torchvision's convention)
/// meaning "not labelled". Training transforms image and mask jointly as torchvision's
/// segmentation reference does (`SegmentationTransform`); evaluation resizes the centre square.
public struct SegmentationFolder: Dataset {
    public struct Pair: Sendable {
        public let stem: String
        public let image: String?
        public let mask: String?
    }

    public struct Options: Sendable {
        public var size = 256
        public var classes: Int?
        public var ignoreIndex = 255
        public var channels = 3
        public var normalization = Normalization.imageNet
        public init() {}
    }

    public let pairs: [Pair]
    public let classCount: Int
    /// Training's random transforms, else evaluation's centre square.
    public private(set) var train: Bool
    public let seed: UInt64
    public let options: Options
    public let notes: [String]

    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    public init(root: String, train: Bool, seed: UInt64, options: Options) throws {
        self.train = train; self.seed = seed; self.options = options
        pairs = try Self.pairs(root: root, split: train ? "train" : "val")
        if let classes = options.classes {
            classCount = classes
            notes = []
        } else {
            // Counted on the training masks, so both splits agree.
            let trainPairs = train ? pairs : try Self.pairs(root: root, split: "train")
            var largest: Int32 = -1, where_ = ""
            for pair in trainPairs {
                guard let mask = pair.mask, let decoded = try? IndexedPNG.decode(file: mask) else { continue }
                for v in decoded.values where v != Int32(options.ignoreIndex) && v > largest { largest = v; where_ = mask }
            }
            guard largest >= 0 else { throw DataError("\(root)/train/masks", "no labelled pixel to count the classes from (pass --num-classes)") }
            classCount = Int(largest) + 1
            notes = ["segfolder: \(classCount) classes (largest mask value \(largest), in \(where_)); \(options.ignoreIndex) is ignored"
                     + " (--num-classes and --ignore-index set them)"]
        }
    }

    /// The split's images and masks, paired by stem, sorted; a file without its partner is kept
    /// so that loading it names what is missing (or `--bad-samples skip` passes over it).
    static func pairs(root: String, split: String) throws -> [Pair] {
        func files(_ folder: String, _ extensions: Set<String>) throws -> [String: String] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw DataError(folder, "folder not found (expected \(root)/\(split)/images/ and \(root)/\(split)/masks/)")
            }
            var byStem: [String: String] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: folder) where !name.hasPrefix(".") {
                let ext = (name as NSString).pathExtension.lowercased()
                guard extensions.contains(ext) else { continue }
                let stem = (name as NSString).deletingPathExtension
                if let other = byStem[stem] { throw DataError("\(folder)/\(name)", "has the same stem as \(other); which one is meant?") }
                byStem[stem] = "\(folder)/\(name)"
            }
            return byStem
        }
        let images = try files("\(root)/\(split)/images", imageExtensions)
        let masks = try files("\(root)/\(split)/masks", ["png"])
        let stems = Set(images.keys).union(masks.keys).sorted()
        guard !stems.isEmpty else { throw DataError("\(root)/\(split)/images", "no JPEG or PNG images") }
        return stems.map { Pair(stem: $0, image: images[$0], mask: masks[$0]) }
    }

    /// The same pairs as evaluation sees them.
    public func unaugmented() -> SegmentationFolder {
        var copy = self
        copy.train = false
        return copy
    }

    public var count: Int { pairs.count }
    public var sampleShape: [Int] { [options.channels, options.size, options.size] }
    public var isSegmentation: Bool { true }
    public var preprocessing: Preprocessing? {
        Preprocessing(channels: options.channels, size: options.size, cropFraction: 1, normalization: options.normalization)
    }

    public func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws {
        let pair = pairs[index]
        guard let imagePath = pair.image else {
            throw DataError(pair.mask ?? pair.stem, "a mask without its image (no \(pair.stem).jpg, .jpeg or .png in images/)")
        }
        guard let maskPath = pair.mask else { throw DataError(imagePath, "an image without its mask (no \(pair.stem).png in masks/)") }
        let decoded = try ImageCodec.decode(file: imagePath)
        let mask = try IndexedPNG.decode(file: maskPath)
        guard mask.width == decoded.width && mask.height == decoded.height else {
            throw DataError(maskPath, "the mask is \(mask.width)×\(mask.height) but its image \(imagePath) is \(decoded.width)×\(decoded.height)")
        }
        let ignore = Int32(options.ignoreIndex)
        if let bad = mask.values.firstIndex(where: { $0 != ignore && $0 >= Int32(classCount) }) {
            throw DataError(maskPath, "class index \(mask.values[bad]) at (x \(bad % mask.width), y \(bad / mask.width)) is not below "
                            + "the \(classCount) classes (--num-classes) nor the ignore value \(ignore) (--ignore-index)")
        }
        let placement = train
            ? SegmentationTransform.randomPlacement(width: decoded.width, height: decoded.height, size: options.size,
                                                   seed: seed, epoch: epoch, index: index)
            : SegmentationTransform.centrePlacement(width: decoded.width, height: decoded.height, size: options.size)
        placement.image(decoded, channels: options.channels, normalization: options.normalization, size: options.size, into: image)
        placement.mask(mask, ignore: ignore, size: options.size, into: labels)
    }
}
