import Autograd
@testable import Data
import Foundation
import TestSupport
import XCTest

final class SourceTests: XCTestCase {
    func testRealFashionMNISTParses() throws {
        let train = try FashionMNIST.load(train: true, augment: false, seed: 0)
        let test = try FashionMNIST.load(train: false, augment: false, seed: 0)
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(train.sampleShape, [1, 28, 28])
        var perClass = [Int](repeating: 0, count: 10)
        for label in train.labels { perClass[Int(label)] += 1 }
        XCTAssertEqual(perClass, Array(repeating: 6_000, count: 10))
        // Normalised with mean 0.2860 and std 0.3530: a zero byte maps to -0.810, 255 to 2.023.
        var image = [Float](repeating: 0, count: 784), label: [Int32] = [0]
        try train.load(0, epoch: 0, image: &image, labels: &label)
        XCTAssertEqual(image.min()!, -0.2860 / 0.3530, accuracy: 1e-5)
        XCTAssertLessThanOrEqual(image.max()!, (1 - 0.2860) / 0.3530 + 1e-5)
        XCTAssertEqual(label[0], train.labels[0])
    }

    func testIDXBadInputsNameTheFileAndTheProblem() throws {
        let folder = temporaryFolder("idx")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func expect(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try FashionMNIST.load(directory: folder, train: false, augment: false, seed: 0), file: file, line: line) {
                XCTAssertTrue("\($0)".contains(text), "\($0)", file: file, line: line)
            }
        }
        expect("t10k-images-idx3-ubyte.gz: file not found")
        write(idx([2, 2, 2], [UInt8](repeating: 7, count: 8)), "\(folder)/t10k-images-idx3-ubyte")
        expect("t10k-labels-idx1-ubyte.gz: file not found")
        write(idx([2], [1, 2]), "\(folder)/t10k-labels-idx1-ubyte")
        XCTAssertEqual(try FashionMNIST.load(directory: folder, train: false, augment: false, seed: 0).count, 2)
        var wrongMagic = idx([2], [1, 2]); wrongMagic[3] = 3
        write(wrongMagic, "\(folder)/t10k-labels-idx1-ubyte")
        expect("IDX magic number is 0x00000803, expected 0x00000801")
        write(idx([2, 2, 2], [UInt8](repeating: 7, count: 5)), "\(folder)/t10k-images-idx3-ubyte")
        write(idx([2], [1, 2]), "\(folder)/t10k-labels-idx1-ubyte")
        expect("truncated or mis-sized")
        write(idx([2, 2, 2], [UInt8](repeating: 7, count: 8)), "\(folder)/t10k-images-idx3-ubyte")
        write(idx([3], [1, 2, 3]), "\(folder)/t10k-labels-idx1-ubyte")
        expect("3 labels for the 2 images")
        write([0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3], "\(folder)/t10k-labels-idx1-ubyte.gz")
        expect("t10k-labels-idx1-ubyte.gz")
        XCTAssertThrowsError(try FashionMNIST.load(directory: "/nonexistent/fmnist", train: true, augment: false, seed: 0)) {
            XCTAssertTrue("\($0)".contains("/nonexistent/fmnist: folder not found"), "\($0)")
        }
    }

    func testCIFARBinaryOnGeneratedFiles() throws {
        let folder = temporaryFolder("cifar")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func record(_ label: UInt8, _ fill: UInt8) -> [UInt8] { [label] + (0..<3072).map { fill &+ UInt8($0 / 1024) } }
        for i in 1...5 { write(record(UInt8(i), UInt8(10 * i)) + record(0, 1), "\(folder)/cifar-10-batches-bin/data_batch_\(i).bin") }
        write(record(9, 200), "\(folder)/cifar-10-batches-bin/test_batch.bin")
        let train = try CIFAR.load(.cifar10, directory: folder, train: true, augment: false, seed: 0)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(Array(train.labels.prefix(4)), [1, 0, 2, 0])
        let test = try CIFAR.load(.cifar10, directory: "\(folder)/cifar-10-batches-bin", train: false, augment: false, seed: 0)
        var image = [Float](repeating: 0, count: 3072), label: [Int32] = [0]
        try test.load(0, epoch: 0, image: &image, labels: &label)
        XCTAssertEqual(label, [9])
        // Channel planes: red bytes 200, green 201, blue 202, each normalised with its channel's mean and std.
        XCTAssertEqual(image[0], (200 / 255 - 0.4914) / 0.2470, accuracy: 1e-4)
        XCTAssertEqual(image[1024], (201 / 255 - 0.4822) / 0.2435, accuracy: 1e-4)
        XCTAssertEqual(image[2048], (202 / 255 - 0.4465) / 0.2616, accuracy: 1e-4)
        write(record(1, 1).dropLast(10).map { $0 }, "\(folder)/cifar-10-batches-bin/test_batch.bin")
        XCTAssertThrowsError(try CIFAR.load(.cifar10, directory: folder, train: false, augment: false, seed: 0)) {
            XCTAssertTrue("\($0)".contains("test_batch.bin: size 3063 bytes is not a whole number of 3073-byte records"), "\($0)")
        }
        write([UInt8](repeating: 0, count: 2 * 3074), "\(folder)/c100/test.bin")
        let c100 = try CIFAR.load(.cifar100, directory: "\(folder)/c100", train: false, augment: false, seed: 0)
        XCTAssertEqual(c100.classCount, 100)
        // Fine labels are numbered in the alphabetical order of their names (the archive's fine_label_names.txt).
        let names = try XCTUnwrap(DataSource.cifar100.classNames(of: c100))
        XCTAssertEqual(names.count, 100)
        XCTAssertEqual(names, names.sorted())
        XCTAssertEqual(Set(names).count, 100)
        XCTAssertEqual([names[0], names[19], names[58], names[99]], ["apple", "cattle", "pickup_truck", "worm"])
        XCTAssertThrowsError(try CIFAR.load(.cifar100, directory: folder, train: false, augment: false, seed: 0)) {
            XCTAssertTrue("\($0)".contains("no test.bin"), "\($0)")
        }
    }

    func testImageFolderOfGeneratedJPEGAndPNG() throws {
        let root = temporaryFolder("imagefolder")
        defer { try? FileManager.default.removeItem(atPath: root) }
        func image(_ value: UInt8, w: Int, h: Int) -> DecodedImage {
            DecodedImage(width: w, height: h, channels: 3, pixels: [UInt8](repeating: value, count: w * h * 3))
        }
        write(try ImageCodec.encodeJPEG(image(200, w: 40, h: 30)), "\(root)/train/cat/a.JPEG")
        write(try ImageCodec.encodePNG(image(50, w: 20, h: 50)), "\(root)/train/cat/b.png")
        write(try ImageCodec.encodePNG(image(120, w: 33, h: 33)), "\(root)/train/ant/c.png")
        write(Array("not an image".utf8), "\(root)/train/ant/notes.txt")
        let data = try ImageFolder(root: root, split: "train", size: 16, train: true, seed: 1)
        XCTAssertEqual(data.classNames, ["ant", "cat"])
        XCTAssertEqual(data.count, 3)
        XCTAssertEqual(data.fileLabels, [0, 1, 1])
        var out = [Float](repeating: 0, count: 3 * 16 * 16), label: [Int32] = [0]
        try data.load(2, epoch: 0, image: &out, labels: &label)
        XCTAssertEqual(label, [1])
        // A flat 50-grey PNG stays flat under crop, resize and flip.
        XCTAssertEqual(out[0], (50 / 255 - 0.485) / 0.229, accuracy: 1e-4)
        XCTAssertEqual(out[3 * 256 - 1], (50 / 255 - 0.406) / 0.225, accuracy: 1e-4)
        // A left-to-right ramp shows the flip: rows rise in plain crops and fall in mirrored ones,
        // and over epochs both occur; the crops differ in scale (how steep the ramp is).
        let rampPixels: [UInt8] = (0..<(64 * 48 * 3)).map { (i: Int) -> UInt8 in UInt8(i / 3 % 64 * 4) }
        let ramp = DecodedImage(width: 64, height: 48, channels: 3, pixels: rampPixels)
        write(try ImageCodec.encodePNG(ramp), "\(root)/train/cat/ramp.png")
        let ramps = try ImageFolder(root: root, split: "train", size: 16, train: true, seed: 1)
        let rampIndex = ramps.files.firstIndex { $0.hasSuffix("ramp.png") }!
        var rising = 0, falling = 0, slopes = Set<Int>()
        for epoch in 0..<24 {
            try ramps.load(rampIndex, epoch: epoch, image: &out, labels: &label)
            let slope = out[15] - out[0]
            if slope > 0 { rising += 1 } else if slope < 0 { falling += 1 }
            slopes.insert(Int(abs(slope) * 10))
        }
        XCTAssertGreaterThan(rising, 0); XCTAssertGreaterThan(falling, 0)
        XCTAssertGreaterThan(slopes.count, 3, "random-resized crops of several scales: \(slopes)")
        let eval = try ImageFolder(root: root, split: "train", size: 16, train: false, seed: 1)
        try eval.load(1, epoch: 0, image: &out, labels: &label)
        XCTAssertEqual(out[0], (200 / 255 - 0.485) / 0.229, accuracy: 0.02, "JPEG is lossy, but a flat image stays close")

        write(Array("garbage".utf8), "\(root)/val/ant/broken.jpg")
        let val = try ImageFolder(root: root, split: "val", size: 16, train: false, seed: 1)
        XCTAssertThrowsError(try val.load(0, epoch: 0, image: &out, labels: &label)) {
            XCTAssertTrue("\($0)".contains("broken.jpg: not a JPEG or PNG file"), "\($0)")
        }
        write([0xFF, 0xD8, 0xFF, 0x00, 0x01], "\(root)/val/ant/broken.jpg")
        XCTAssertThrowsError(try val.load(0, epoch: 0, image: &out, labels: &label)) {
            XCTAssertTrue("\($0)".contains("broken.jpg: JPEG header does not decode"), "\($0)")
        }
        try FileManager.default.createDirectory(atPath: "\(root)/val/empty", withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageFolder(root: root, split: "val", train: false, seed: 1)) {
            XCTAssertTrue("\($0)".contains("val/empty: class folder has no JPEG or PNG images"), "\($0)")
        }
        XCTAssertThrowsError(try ImageFolder(root: root, split: "test", train: false, seed: 1)) {
            XCTAssertTrue("\($0)".contains("test: folder not found"), "\($0)")
        }
    }

    func testSyntheticAndShapesAreReproducibleAndLabelled() throws {
        let synthetic = SyntheticImages(count: 100, classes: 4, shape: [2, 8, 8], seed: 3)
        var a = [Float](repeating: 0, count: 128), b = a, label: [Int32] = [0]
        try synthetic.load(7, epoch: 0, image: &a, labels: &label)
        try synthetic.load(7, epoch: 5, image: &b, labels: &label)
        XCTAssertEqual(a, b)
        XCTAssertEqual(Set((0..<100).map { synthetic.label(of: $0) }), [0, 1, 2, 3])
        let shapes = Shapes(count: 10, channels: 3, size: 32, seed: 1)
        var image = [Float](repeating: 0, count: 3 * 32 * 32), mask = [Int32](repeating: -1, count: 32 * 32)
        try shapes.load(3, epoch: 0, image: &image, labels: &mask)
        XCTAssertTrue(mask.allSatisfy { (0...3).contains($0) })
        XCTAssertTrue(mask.contains { $0 > 0 }, "every image has at least one shape")
        XCTAssertTrue(mask.contains(0), "and some background")
    }

    func testUnknownSourceNamesTheChoices() {
        XCTAssertThrowsError(try DataSource.named("imagenet")) { XCTAssertTrue("\($0)".contains("fashion-mnist, mnist, cifar10")) }
        XCTAssertThrowsError(try DataSource.cifar10.open(train: true, options: .init())) { XCTAssertTrue("\($0)".contains("--data-dir")) }
    }
}

/// Images as PIL reads them (the loader torchvision users know): CMYK and YCCK JPEGs, RGBA and
/// 16-bit PNGs, compared with Pillow's own conversion to RGB (Fixtures/make-*.py).
final class ImageDecodingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    func reference(_ file: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/\(file)"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func assertClose(_ ours: DecodedImage, _ pil: [Int], within tolerance: Int, _ name: String) {
        XCTAssertEqual(ours.channels, 3, name)
        XCTAssertEqual(ours.pixels.count, pil.count, name)
        let worst = zip(ours.pixels, pil).map { abs(Int($0) - $1) }.max() ?? .max
        XCTAssertLessThanOrEqual(worst, tolerance, "\(name): largest difference from Pillow \(worst)")
    }

    /// PIL's formula on values whose answer it printed: stored CMYK is 255 − ink (Adobe).
    func testAdobeCMYKToRGBAsPIL() {
        // Inks (100, 50, 200, 30) → RGB (137, 181, 49); (255, 0, 0, 0) → (0, 255, 255); full black → 0.
        let stored: [UInt8] = [155, 205, 55, 225, 0, 255, 255, 255, 245, 235, 225, 0, 255, 255, 255, 255]
        XCTAssertEqual(ImageCodec.rgb(fromAdobeCMYK: stored), [137, 181, 49, 0, 255, 255, 0, 0, 0, 255, 255, 255])
    }

    func testCMYKJPEGMatchesPillow() throws {
        let image = try ImageCodec.decode(file: "\(Self.fixtures)/cmyk.jpg")
        let pil = try reference("cmyk.rgb.json")
        XCTAssertEqual(image.width, pil["width"] as? Int)
        // Both decode with libjpeg-turbo's integer IDCT; any difference is in the last bit.
        assertClose(image, pil["rgb"] as! [Int], within: 1, "cmyk.jpg")
    }

    func testYCCKJPEGDecodesToTheRGBItEncodes() throws {
        // Stored CMYK (r, g, b, 255) means no black: PIL's RGB is (r, g, b).
        let (w, h) = (24, 16)
        var cmyk: [UInt8] = [], rgb: [UInt8] = []
        for y in 0..<h { for x in 0..<w {
            let px = [UInt8(x * 10), UInt8(y * 15), UInt8(128 + x * 2)]
            cmyk += px + [255]; rgb += px
        } }
        let bytes = try ImageCodec.encodeJPEG(DecodedImage(width: w, height: h, channels: 4, pixels: cmyk), quality: 100)
        let path = temporaryFolder("ycck") + "/ycck.jpg"
        write(bytes, path)
        assertClose(try ImageCodec.decode(file: path), rgb.map(Int.init), within: 3, "YCCK")
    }

    func testRGBAAndSixteenBitPNGsMatchPillow() throws {
        let pil = try reference("png.rgb.json")
        for name in ["rgba.png", "grey16.png", "rgb16.png"] {
            let image = try ImageCodec.decode(file: "\(Self.fixtures)/\(name)")
            assertClose(image, (pil[name] as! [String: Any])["rgb"] as! [Int], within: 1, name)
        }
    }

    func testDamagedFilesNameThemselves() throws {
        let folder = temporaryFolder("damaged")
        let jpeg = try ImageCodec.encodeJPEG(DecodedImage(width: 32, height: 32, channels: 3, pixels: [UInt8](repeating: 90, count: 3072)))
        write(Array(jpeg.prefix(jpeg.count / 2)), "\(folder)/truncated.jpg")
        write(Array("not an image".utf8), "\(folder)/text.jpg")
        for name in ["truncated.jpg", "text.jpg"] {
            XCTAssertThrowsError(try ImageCodec.decode(file: "\(folder)/\(name)")) {
                XCTAssertTrue("\($0)".hasPrefix("\(folder)/\(name): "), "\($0)")
            }
        }
    }
}
