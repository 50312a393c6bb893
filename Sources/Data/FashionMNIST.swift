import Foundation

/// Fashion-MNIST (or MNIST) from a folder of IDX files, gzipped or not:
/// `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-…` for the test split.
public enum FashionMNIST {
    /// Where Debian's `dataset-fashion-mnist` package installs it.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                                    "Ankle boot"]

    public static func load(directory: String = defaultDirectory, train: Bool, normalization: Normalization = .fashionMNIST,
                            augment: Bool, seed: UInt64) throws -> InMemoryImages {
        guard FileManager.default.fileExists(atPath: directory) else {
            if directory == defaultDirectory {
                throw DataError(directory, "Fashion-MNIST is not installed; install Debian's package: apt-get install dataset-fashion-mnist")
            }
            throw DataError(directory, "folder not found")
        }
        let prefix = train ? "train" : "t10k"
        let imagePath = try find(directory, "\(prefix)-images-idx3-ubyte")
        let labelPath = try find(directory, "\(prefix)-labels-idx1-ubyte")
        let (extents, pixels) = try IDX.parse(try GzipFile.read(imagePath), path: imagePath, dimensions: 3)
        let (labelExtents, labelBytes) = try IDX.parse(try GzipFile.read(labelPath), path: labelPath, dimensions: 1)
        guard extents[0] == labelExtents[0] else {
            throw DataError(labelPath, "\(labelExtents[0]) labels for the \(extents[0]) images of \(imagePath)")
        }
        let labels = labelBytes.map { Int32($0) }
        if let bad = labels.first(where: { $0 > 9 }) { throw DataError(labelPath, "label \(bad) is outside 0...9") }
        return InMemoryImages(pixels: Array(pixels), labels: labels, channels: 1, height: extents[1], width: extents[2],
                              classCount: 10, normalization: normalization, cropPadding: augment ? 2 : nil, flip: augment,
                              seed: seed)
    }

    /// The file, gzipped or plain.
    static func find(_ directory: String, _ name: String) throws -> String {
        for candidate in ["\(directory)/\(name).gz", "\(directory)/\(name)"] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw DataError("\(directory)/\(name).gz", "file not found (nor \(name) uncompressed)")
    }
}
