@testable import Data
import Foundation
import TestSupport
import XCTest

/// `.npy` and `.npz` files written by NumPy (Fixtures/make-npy.py): every accepted dtype and
/// header version loads bit-exactly, every rejected form says why, and the data sets built on
/// them normalise, augment and label as the built-in sources do.
final class NumPyTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/npy").path

    /// What make-npy.py stored at flat index `i`.
    func expected(_ i: Int, _ element: NumPyArray.Element) -> Double {
        switch element {
        case .float16, .float32, .float64: Double(i % 64) * 0.25 - 8
        case .uint8, .uint16, .uint32, .uint64: Double((i * 37) % 200)
        default: Double((i * 37) % 200 - 100)
        }
    }

    func testEveryAcceptedDtypeAndHeaderVersionLoadsExactly() throws {
        let files: [(String, NumPyArray.Element)] = [
            ("u1", .uint8), ("i1", .int8), ("u2", .uint16), ("i2", .int16), ("u4", .uint32), ("i4", .int32), ("u8", .uint64),
            ("i8", .int64), ("f2", .float16), ("f4", .float32), ("f8", .float64), ("f4-v2", .float32), ("f4-v3", .float32),
        ]
        for (name, element) in files {
            let array = try NumPyArray(path: "\(Self.fixtures)/\(name).npy")
            XCTAssertEqual(array.element, element, name)
            XCTAssertEqual(array.shape, [2, 3, 4, 5], name)
            var wrong = 0
            for i in 0..<array.count {
                let value = element.isInteger ? Double(array.integer(i)) : Double(array.float(i))
                if value != expected(i, element) { wrong += 1 }
            }
            XCTAssertEqual(wrong, 0, "\(name): \(wrong) of \(array.count) elements differ")
        }
        XCTAssertEqual(try NumPyArray(path: "\(Self.fixtures)/scalar-shape.npy").shape, [7])
    }

    func testRejectedFormsSayWhy() {
        let cases = [
            ("big-endian.npy", "big-endian"), ("fortran.npy", "Fortran"), ("object.npy", "object array"),
            ("structured.npy", "structured array"), ("unicode.npy", "'<U3' is not read"), ("truncated.npy", "truncated"),
            ("bad-magic.npy", "not a NumPy .npy file"), ("missing.npy", "file not found"),
        ]
        for (name, message) in cases {
            let path = "\(Self.fixtures)/\(name)"
            XCTAssertThrowsError(try NumPyArray(path: path), name) { error in
                XCTAssertTrue("\(error)".hasPrefix("\(path): "), "\(error)")
                XCTAssertTrue("\(error)".contains(message), "\(name): \(error)")
            }
        }
    }

    func open(_ directory: String, train: Bool, _ configure: (inout NumPyImages.Options) -> Void = { _ in }) throws -> NumPyImages {
        var options = NumPyImages.Options()
        configure(&options)
        return try NumPyImages(directory: directory, train: train, seed: 5, options: options)
    }

    func sample(_ set: Dataset, _ index: Int, epoch: Int = 0) throws -> (image: [Float], labels: [Int32]) {
        var image = [Float](repeating: .nan, count: set.sampleCount)
        var labels = [Int32](repeating: -7, count: set.labelsPerSample)
        try image.withUnsafeMutableBufferPointer { i in
            try labels.withUnsafeMutableBufferPointer { try set.load(index, epoch: epoch, image: i.baseAddress!, labels: $0.baseAddress!) }
        }
        return (image, labels)
    }

    /// NHWC bytes (train) and NCHW floats in [0, 1] (val) of the same pixels normalise to the same
    /// values; folders, stored and compressed .npz archives read the same arrays.
    func testLayoutsDtypesAndArchivesAgree() throws {
        let mean: [Float] = [0.25, 0.5, 0.75], std: [Float] = [0.5, 0.25, 0.125]
        for source in ["set", "stored.npz", "compressed.npz"] {
            let path = "\(Self.fixtures)/\(source)"
            let train = try open(path, train: true) { $0.augment = false; $0.normalization = Normalization(mean: mean, std: std) }
            let val = try open(path, train: false) { $0.normalization = Normalization(mean: mean, std: std) }
            XCTAssertEqual(train.sampleShape, [3, 6, 6], source)
            XCTAssertTrue(train.channelsLast, source)
            XCTAssertFalse(val.channelsLast, source)
            XCTAssertEqual(train.classCount, 3, source)
            XCTAssertFalse(train.isSegmentation, source)
            for index in 0..<6 {
                let (a, labelA) = try sample(train, index), (b, labelB) = try sample(val, index)
                XCTAssertEqual(labelA, [Int32([0, 1, 2, 0, 1, 2][index])], source)
                XCTAssertEqual(labelA, labelB, source)
                // Pixel (c, y, x) of image n is byte ((n·36 + y·6 + x)·3 + c)·11 mod 256.
                for c in 0..<3 { for p in 0..<36 {
                    let byte = Float(((index * 36 + p) * 3 + c) * 11 % 256)
                    let want = (byte / 255 - mean[c]) / std[c]
                    XCTAssertEqual(a[c * 36 + p], want, accuracy: 1e-5, "\(source) train \(index) c\(c) p\(p)")
                    XCTAssertEqual(b[c * 36 + p], want, accuracy: 1e-5, "\(source) val \(index) c\(c) p\(p)")
                } }
            }
        }
    }

    func testComputedStatisticsAndTheClassCountAreStated() throws {
        let set = try open("\(Self.fixtures)/set", train: true)
        // The red channel's bytes are (3k·11) mod 256 for k < 216.
        let red = (0..<216).map { Double(3 * $0 * 11 % 256) / 255 }
        let mean = red.reduce(0, +) / 216
        let std = (red.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 216).squareRoot()
        XCTAssertEqual(Double(set.normalization.mean[0]), mean, accuracy: 1e-6)
        XCTAssertEqual(Double(set.normalization.std[0]), std, accuracy: 1e-6)
        XCTAssertTrue(set.notes.contains { $0.contains("3 classes (largest label 2") }, "\(set.notes)")
        XCTAssertTrue(set.notes.contains { $0.contains("computed from 6 training images") }, "\(set.notes)")
        XCTAssertTrue(set.notes.contains { $0.contains("read as N×H×W×C (3 channels)") }, "\(set.notes)")
        XCTAssertEqual(set.preprocessing?.normalization, set.normalization)
    }

    func testSegmentationMasksIgnoreAndCropWithTheImage() throws {
        let set = try open("\(Self.fixtures)/seg", train: true)
        XCTAssertTrue(set.isSegmentation)
        XCTAssertEqual(set.classCount, 3)
        let (_, plain) = try sample(try open("\(Self.fixtures)/seg", train: false), 1)
        XCTAssertEqual(plain[0], -1, "255 is ignored")
        XCTAssertEqual(Array(plain[1..<4]), [37 % 3, 38 % 3, 39 % 3].map(Int32.init))
        // Augmented: the mask takes the image's crop and flip; padding is ignored.
        for epoch in 0..<6 {
            let (image, mask) = try sample(set, 1, epoch: epoch)
            let (dy, dx, mirrored) = set.transform.draw(seed: 5, epoch: epoch, index: 1)
            XCTAssertEqual(set.transform.padding, 2)
            for y in 0..<6 { for x in 0..<6 {
                let (sy, sx) = (y + dy, (mirrored ? 5 - x : x) + dx)
                let inside = sy >= 0 && sy < 6 && sx >= 0 && sx < 6
                let want: Int32 = inside ? (sy == 0 && sx == 0 ? -1 : Int32((36 + sy * 6 + sx) % 3)) : -1
                XCTAssertEqual(mask[y * 6 + x], want, "epoch \(epoch) (\(y), \(x))")
                if !inside { XCTAssertEqual(image[y * 6 + x], set.normalization.affine(0).shift) }
            } }
        }
    }

    func testMismatchedAndOutOfRangeLabelsNameTheFile() throws {
        XCTAssertThrowsError(try open("\(Self.fixtures)/mismatched", train: true)) {
            XCTAssertTrue("\($0)".contains("train_labels.npy: 5 labels for the 6 images"), "\($0)")
        }
        XCTAssertThrowsError(try open("\(Self.fixtures)/set", train: true) { $0.classes = 2 }) {
            XCTAssertTrue("\($0)".contains("train_labels.npy: sample 2 has label 2, outside 0..<2"), "\($0)")
        }
        XCTAssertThrowsError(try open("\(Self.fixtures)/seg", train: true) { $0.ignoreIndex = 254; $0.classes = 3 }) {
            XCTAssertTrue("\($0)".contains("has label 255") && "\($0)".contains("--ignore-index"), "\($0)")
        }
        XCTAssertThrowsError(try open("\(Self.fixtures)", train: true)) {
            XCTAssertTrue("\($0)".contains("several .npz archives"), "\($0)")
        }
    }

    /// Fashion-MNIST written as .npy trains on exactly the built-in source's samples (same seed,
    /// same crops and flips, same floats).
    func testFashionMNISTAsNumPyMatchesTheBuiltInSource() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory) else {
            throw XCTSkip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        }
        let builtIn = try FashionMNIST.load(train: true, augment: true, seed: 5).prefix(64)
        let folder = temporaryFolder("fashion-npy")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let header = { (shape: [Int], descr: String) -> [UInt8] in
            var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
            while (10 + text.utf8.count + 1) % 64 != 0 { text += " " }
            text += "\n"
            return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)] + Array(text.utf8)
        }
        let labels = builtIn.labels.flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) }
        for split in ["train", "val"] {
            write(header([64, 28, 28], "|u1") + builtIn.pixels, "\(folder)/\(split)_images.npy")
            write(header([64], "<i8") + labels, "\(folder)/\(split)_labels.npy")
        }
        let arrays = try open(folder, train: true) { $0.normalization = .fashionMNIST }
        for epoch in 0..<3 { for index in [0, 7, 63] {
            let (a, la) = try sample(builtIn, index, epoch: epoch), (b, lb) = try sample(arrays, index, epoch: epoch)
            XCTAssertEqual(la, lb)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "sample \(index), epoch \(epoch)")
        } }
    }
}
