@testable import Data
import Foundation
import TestSupport
import XCTest

/// Mask PNGs read as class indices exactly as Pillow reads them (Fixtures/make-masks.py), and
/// the segmentation folder's pairing, checks and joint transforms.
final class SegmentationDataTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/masks").path

    func testMasksReadAsPillowReadsThem() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/expected.json"))
        let expected = try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        XCTAssertEqual(expected.count, 6)
        for (name, pil) in expected {
            let mask = try IndexedPNG.decode(file: "\(Self.fixtures)/\(name).png")
            XCTAssertEqual(mask.width, pil["width"] as? Int, name)
            XCTAssertEqual(mask.height, pil["height"] as? Int, name)
            let values = (pil["values"] as! [Int]).map(Int32.init)
            XCTAssertEqual(values.count, 13 * 7, name)
            XCTAssertEqual(mask.values, values, "\(name) (\(pil["mode"] ?? "?"))")
        }
    }

    func testUnreadableMasksSayWhy() {
        for (name, message) in [("rgb.png", "colour (RGB) mask"), ("damaged.png", "damaged PNG"), ("missing.png", "file not found")] {
            let path = "\(Self.fixtures)/\(name)"
            XCTAssertThrowsError(try IndexedPNG.decode(file: path)) {
                XCTAssertTrue("\($0)".hasPrefix(path) && "\($0)".contains(message), "\(name): \($0)")
            }
        }
    }

    /// A folder of 3 pairs, one mask of the wrong size, one image without a mask; grey and RGB.
    func makeFolder() throws -> String {
        let root = temporaryFolder("segfolder")
        func image(_ w: Int, _ h: Int, grey: Bool) -> [UInt8] {
            let channels = grey ? 1 : 3
            let pixels = (0..<(w * h * channels)).map { UInt8($0 * 7 % 256) }
            return try! ImageCodec.encodePNG(DecodedImage(width: w, height: h, channels: channels, pixels: pixels))
        }
        func mask(_ w: Int, _ h: Int, _ value: (Int, Int) -> UInt8) -> [UInt8] {
            var pixels: [UInt8] = []
            for y in 0..<h { for x in 0..<w { pixels.append(value(x, y)) } }
            return try! ImageCodec.encodePNG(DecodedImage(width: w, height: h, channels: 1, pixels: pixels, isColour: false))
        }
        for split in ["train", "val"] {
            write(image(20, 10, grey: false), "\(root)/\(split)/images/a.png")
            write(mask(20, 10) { x, y in x < 10 ? 1 : y == 0 ? 255 : 2 }, "\(root)/\(split)/masks/a.png")
            write(image(12, 12, grey: true), "\(root)/\(split)/images/b.png")
            write(mask(12, 12) { x, _ in x < 6 ? 0 : 3 }, "\(root)/\(split)/masks/b.png")
        }
        write(image(8, 8, grey: false), "\(root)/train/images/c.png")
        write(mask(4, 4) { _, _ in 0 }, "\(root)/train/masks/c.png")
        write(image(8, 8, grey: false), "\(root)/train/images/d.png")
        return root
    }

    func load(_ set: SegmentationFolder, _ index: Int, epoch: Int = 0) throws -> (image: [Float], mask: [Int32]) {
        var image = [Float](repeating: .nan, count: set.sampleCount), mask = [Int32](repeating: -7, count: set.labelsPerSample)
        try image.withUnsafeMutableBufferPointer { i in
            try mask.withUnsafeMutableBufferPointer { try set.load(index, epoch: epoch, image: i.baseAddress!, labels: $0.baseAddress!) }
        }
        return (image, mask)
    }

    func testPairsClassesAndErrorsNameTheFile() throws {
        let root = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var options = SegmentationFolder.Options()
        options.size = 8
        let train = try SegmentationFolder(root: root, train: true, seed: 1, options: options)
        XCTAssertEqual(train.pairs.map(\.stem), ["a", "b", "c", "d"])
        XCTAssertEqual(train.classCount, 4, "largest index 3; 255 ignored")
        XCTAssertTrue(train.notes.first?.contains("4 classes (largest mask value 3") == true, "\(train.notes)")
        XCTAssertThrowsError(try load(train, 2)) { XCTAssertTrue("\($0)".contains("masks/c.png: the mask is 4×4 but its image"), "\($0)") }
        XCTAssertThrowsError(try load(train, 3)) { XCTAssertTrue("\($0)".contains("images/d.png: an image without its mask"), "\($0)") }
        options.classes = 3
        let tooFew = try SegmentationFolder(root: root, train: true, seed: 1, options: options)
        XCTAssertThrowsError(try load(tooFew, 1)) {
            XCTAssertTrue("\($0)".contains("masks/b.png: class index 3 at (x 6, y 0) is not below the 3 classes"), "\($0)")
        }
    }

    /// Evaluation: the centre square resized, the mask by nearest neighbour, 255 → ignored (−1).
    /// Training: every drawn geometry keeps image and mask together, and pads the mask with −1.
    func testTransformsKeepImageAndMaskTogether() throws {
        let root = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var options = SegmentationFolder.Options()
        options.size = 10
        let val = try SegmentationFolder(root: root, train: false, seed: 1, options: options)
        let (_, mask) = try load(val, 0)
        // Image a is 20×10: its centre square is columns 5..<15, at scale 1; left half class 1.
        XCTAssertEqual(Array(mask[0..<10]), [1, 1, 1, 1, 1, -1, -1, -1, -1, -1])
        XCTAssertEqual(Array(mask[10..<20]), [1, 1, 1, 1, 1, 2, 2, 2, 2, 2])
        let train = try SegmentationFolder(root: root, train: true, seed: 1, options: options)
        var sawPadding = false, sawMirror = false
        for epoch in 0..<40 {
            let (image, mask) = try load(train, 1, epoch: epoch)
            let t = SegmentationTransform.randomPlacement(width: 12, height: 12, size: 10, seed: 1, epoch: epoch, index: 1)
            XCTAssertTrue((5...20).contains(t.resizedWidth), "short side within [size/2, 2·size]")
            sawMirror = sawMirror || t.mirrored
            // Image b is grey (its three channels equal); class 3 exactly where the column came from x ≥ 6.
            for y in 0..<10 { for x in 0..<10 {
                let p = y * 10 + x
                guard y + t.top < t.resizedHeight, let rx = t.column(x) else {
                    sawPadding = true
                    XCTAssertEqual(mask[p], -1)
                    XCTAssertEqual(image[p], Normalization.imageNet.affine(0).shift, accuracy: 1e-6)
                    continue
                }
                let sx = min(Int((Double(rx) + 0.5) * t.scaleX), 11)
                XCTAssertEqual(mask[p], sx < 6 ? 0 : 3, "epoch \(epoch) (\(y), \(x))")
            } }
        }
        XCTAssertTrue(sawPadding && sawMirror, "40 draws include a padded and a mirrored crop")
    }
}
