import Foundation

/// CIFAR-10 and CIFAR-100, binary version: records of label byte(s) + 3072 pixel bytes
/// (1024 red, 1024 green, 1024 blue). CIFAR-10: `data_batch_1.bin` … `data_batch_5.bin`,
/// `test_batch.bin`; CIFAR-100: `train.bin`, `test.bin` (coarse and fine label; the fine
/// label is used). The folder may be the archive's own subfolder or hold it.
public enum CIFAR {
    public enum Variant: Sendable { case cifar10, cifar100 }
    public static let cifar10ClassNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    /// CIFAR-100's fine labels in label order (the archive's `fine_label_names.txt`).
    public static let cifar100ClassNames = [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl",
        "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair",
        "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin",
        "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp",
        "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse",
        "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose",
        "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar",
        "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor", "train",
        "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ]

    public static func load(_ variant: Variant, directory: String, train: Bool, augment: Bool, seed: UInt64) throws -> InMemoryImages {
        let folder = try resolve(directory, variant)
        let files: [String]
        switch (variant, train) {
        case (.cifar10, true): files = (1...5).map { "data_batch_\($0).bin" }
        case (.cifar10, false): files = ["test_batch.bin"]
        case (.cifar100, true): files = ["train.bin"]
        case (.cifar100, false): files = ["test.bin"]
        }
        let labelBytes = variant == .cifar10 ? 1 : 2
        let record = labelBytes + 3072
        let classes = variant == .cifar10 ? 10 : 100
        var pixels = [UInt8](), labels = [Int32]()
        for name in files {
            let path = "\(folder)/\(name)"
            guard let data = FileManager.default.contents(atPath: path) else { throw DataError(path, "file not found") }
            guard !data.isEmpty, data.count % record == 0 else {
                throw DataError(path, "size \(data.count) bytes is not a whole number of \(record)-byte records (truncated or not CIFAR binary)")
            }
            let bytes = [UInt8](data)
            pixels.reserveCapacity(pixels.count + bytes.count)
            for r in 0..<(bytes.count / record) {
                let label = Int32(bytes[r * record + labelBytes - 1])
                guard label < classes else { throw DataError(path, "record \(r) has label \(label), outside 0..<\(classes)") }
                labels.append(label)
                pixels.append(contentsOf: bytes[(r * record + labelBytes)..<((r + 1) * record)])
            }
        }
        return InMemoryImages(pixels: pixels, labels: labels, channels: 3, height: 32, width: 32, classCount: classes,
                              normalization: variant == .cifar10 ? .cifar10 : .cifar100, cropPadding: augment ? 4 : nil,
                              flip: augment, seed: seed)
    }

    static func resolve(_ directory: String, _ variant: Variant) throws -> String {
        let marker = variant == .cifar10 ? "test_batch.bin" : "test.bin"
        let sub = variant == .cifar10 ? "cifar-10-batches-bin" : "cifar-100-binary"
        for candidate in [directory, "\(directory)/\(sub)"] where FileManager.default.fileExists(atPath: "\(candidate)/\(marker)") {
            return candidate
        }
        guard FileManager.default.fileExists(atPath: directory) else { throw DataError(directory, "folder not found") }
        throw DataError(directory, "no \(marker) here or in \(sub)/; expected CIFAR's binary version")
    }
}
