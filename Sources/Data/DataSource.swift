/// The data sets users name with `--data`, and how to open them.
public enum DataSource: String, CaseIterable, Sendable {
    case fashionMNIST = "fashion-mnist"
    case mnist
    case cifar10
    case cifar100
    case imageFolder = "imagefolder"
    case synthetic
    case shapes
    case segmentationFolder = "segfolder"
    case npy

    public struct Options: Sendable {
        public var directory: String?
        public var seed: UInt64 = 0
        /// Image side for imagefolder, synthetic and shapes.
        public var imageSize: Int?
        public var channels: Int?
        public var classes: Int?
        /// Samples in the synthetic and shapes sets.
        public var syntheticCount: Int?
        /// `--mean/--std` for the sets that take them (segfolder, npy).
        public var normalization: Normalization?
        /// The mask value that labels nothing (segfolder, npy masks).
        public var ignoreIndex = 255
        public var arrayLayout = ArrayLayout.auto
        /// The training split's augmentation (npy); off: training images as evaluation sees them.
        public var augment = true
        /// imagefolder's training images also through this policy.
        public var autoAugment = AutoAugmentPolicy.none
        public init(directory: String? = nil, seed: UInt64 = 0, imageSize: Int? = nil, channels: Int? = nil,
                    classes: Int? = nil, syntheticCount: Int? = nil) {
            self.directory = directory; self.seed = seed; self.imageSize = imageSize; self.channels = channels
            self.classes = classes; self.syntheticCount = syntheticCount
        }
    }

    public static func named(_ name: String) throws -> DataSource {
        guard let source = DataSource(rawValue: name.lowercased()) else {
            throw DataError("unknown data set '\(name)'; choose one of: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return source
    }

    /// The training split (augmented) or the evaluation split (`train: false`, normalised only).
    public func open(train: Bool, options: Options) throws -> Dataset {
        let seed = options.seed
        switch self {
        case .fashionMNIST:
            return try FashionMNIST.load(directory: options.directory ?? FashionMNIST.defaultDirectory, train: train,
                                         augment: train, seed: seed)
        case .mnist:
            guard let directory = options.directory else { throw DataError("mnist needs --data-dir: a folder of MNIST's IDX files") }
            return try FashionMNIST.load(directory: directory, train: train, normalization: .mnist, augment: train, seed: seed)
        case .cifar10, .cifar100:
            guard let directory = options.directory else { throw DataError("\(rawValue) needs --data-dir: the folder of CIFAR's binary files") }
            return try CIFAR.load(self == .cifar10 ? .cifar10 : .cifar100, directory: directory, train: train, augment: train, seed: seed)
        case .imageFolder:
            guard let directory = options.directory else { throw DataError("imagefolder needs --data-dir: a folder with train/ and val/") }
            return try ImageFolder(root: directory, split: train ? "train" : "val", size: options.imageSize ?? 224,
                                   train: train, seed: seed, autoAugment: options.autoAugment)
        case .synthetic:
            let size = options.imageSize ?? 224
            return SyntheticImages(count: options.syntheticCount ?? (train ? 12_800 : 1_280), classes: options.classes ?? 1000,
                                   shape: [options.channels ?? 3, size, size], seed: train ? seed : seed ^ 0x7E57)
        case .shapes:
            return Shapes(count: options.syntheticCount ?? (train ? 2_000 : 200), channels: options.channels ?? 3,
                          size: options.imageSize ?? 64, seed: train ? seed : seed ^ 0x7E57)
        case .segmentationFolder:
            guard let directory = options.directory else {
                throw DataError("segfolder needs --data-dir: a folder with train/images, train/masks, val/images, val/masks")
            }
            var folder = SegmentationFolder.Options()
            folder.size = options.imageSize ?? folder.size
            folder.classes = options.classes
            folder.ignoreIndex = options.ignoreIndex
            folder.channels = options.channels ?? 3
            folder.normalization = options.normalization ?? .imageNet
            return try SegmentationFolder(root: directory, train: train, seed: seed, options: folder)
        case .npy:
            guard let directory = options.directory else {
                throw DataError("npy needs --data-dir: a folder of train_images.npy, train_labels.npy, val_images.npy, val_labels.npy, or an .npz")
            }
            var arrays = NumPyImages.Options()
            arrays.layout = options.arrayLayout
            arrays.normalization = options.normalization
            arrays.classes = options.classes
            arrays.ignoreIndex = options.ignoreIndex
            arrays.augment = options.augment
            return try NumPyImages(directory: directory, train: train, seed: seed, options: arrays)
        }
    }

    /// The class names of `dataset` (opened from this source), where the data set has them.
    public func classNames(of dataset: Dataset) -> [String]? {
        switch self {
        case .fashionMNIST: FashionMNIST.classNames
        case .mnist: (0...9).map(String.init)
        case .cifar10: CIFAR.cifar10ClassNames
        case .cifar100: CIFAR.cifar100ClassNames
        case .synthetic: nil
        case .imageFolder: (dataset as? ImageFolder)?.classNames
        case .shapes: Shapes.classNames
        case .segmentationFolder, .npy: nil
        }
    }
}
