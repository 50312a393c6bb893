@testable import Data
import Foundation
import TestSupport
import Kernels
import XCTest

/// TrivialAugmentWide against torchvision's own `_apply_op` on a fixed image, every operation at
/// several magnitudes (Fixtures/make-trivialaugment.py), its magnitude table, and its draws.
final class TrivialAugmentTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    func golden() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/trivialaugment.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func testEveryOperationEqualsTorchvisions() throws {
        let g = try golden()
        let shape = g["shape"] as! [Int]
        let image = (g["image"] as! [Int]).map(UInt8.init)
        let names = g["ops"] as! [String]
        let cases = g["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 63)
        XCTAssertEqual(names.count, TrivialAugmentWide.Operation.allCases.count)
        for c in cases {
            let name = c["op"] as! String
            let op = TrivialAugmentWide.Operation(rawValue: names.firstIndex(of: name)!)!
            var ours = image
            TrivialAugmentWide.apply(op, magnitude: c["magnitude"] as! Double, to: &ours, channels: shape[0], height: shape[1], width: shape[2])
            let theirs = (c["output"] as! [Int]).map(UInt8.init)
            let differing = zip(ours, theirs).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "\(name) at \(c["magnitude"]!): \(differing) of \(theirs.count) bytes differ from torchvision's")
        }
    }

    func testMagnitudeTableIsTorchvisions() throws {
        let g = try golden()
        let names = g["ops"] as! [String]
        let table = g["table"] as! [String: [Any]]
        for (index, name) in names.enumerated() {
            let op = TrivialAugmentWide.Operation(rawValue: index)!
            let (values, signed) = (table[name]![0] as! [Double], table[name]![1] as! Bool)
            for (bin, value) in values.enumerated() {
                let ours = TrivialAugmentWide.magnitude(op, bin: bin)
                // torch.linspace's last bit depends on the CPU's vector width; the values agree to float32 rounding.
                XCTAssertEqual(ours.value, value, accuracy: 2e-7 * max(abs(value), 1), "\(name) bin \(bin)")
                XCTAssertEqual(ours.signed, signed, name)
            }
        }
    }

    func testDrawsAreUniformOverOperationsAndSigns() {
        var rng = RandomGenerator(seed: 4)
        var counts = [Int](repeating: 0, count: 14), negative = 0, signedDraws = 0
        for _ in 0..<14_000 {
            let (op, magnitude) = TrivialAugmentWide.draw(&rng)
            counts[op.rawValue] += 1
            if TrivialAugmentWide.magnitude(op, bin: 1).signed { signedDraws += 1; if magnitude < 0 { negative += 1 } }
        }
        XCTAssertTrue(counts.allSatisfy { abs($0 - 1000) < 150 }, "\(counts)")
        XCTAssertEqual(Double(negative) / Double(signedDraws), 0.5, accuracy: 0.03)
    }

    /// In an image folder: a sample whose draw is the identity equals the plain transform up to
    /// the 8-bit rounding torchvision's recipe applies before it; others are the operation's.
    func testImageFolderAppliesItToTheEightBitCrop() throws {
        let root = temporaryFolder("ta-wide")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for i in 0..<40 {
            let pixels = (0..<(24 * 20 * 3)).map { UInt8(($0 * 7 + i * 13) % 256) }
            write(try ImageCodec.encodePNG(DecodedImage(width: 24, height: 20, channels: 3, pixels: pixels)), "\(root)/train/c\(i % 2)/\(i).png")
        }
        let plain = try ImageFolder(root: root, split: "train", size: 16, train: true, seed: 3)
        let augmented = try ImageFolder(root: root, split: "train", size: 16, train: true, seed: 3, autoAugment: .trivialAugmentWide)
        var identities = 0, changed = 0
        for index in 0..<40 {
            var a = [Float](repeating: 0, count: 3 * 256), b = a
            var label: Int32 = 0
            try plain.load(index, epoch: 1, image: &a, labels: &label)
            try augmented.load(index, epoch: 1, image: &b, labels: &label)
            var rng = RandomGenerator(seed: 3, stream: 0x5441_5744, 1, UInt64(index))
            let (op, magnitude) = TrivialAugmentWide.draw(&rng)
            let worst = zip(a, b).map { abs($0 - $1) }.max()!
            if op == .identity || (op == .translateX || op == .translateY) && Int(magnitude) == 0 {
                identities += 1
                XCTAssertLessThanOrEqual(worst, 0.5 / 255 / 0.224 + 1e-5, "sample \(index): identity draw")
            } else if worst > 0.01 {
                changed += 1
            }
        }
        XCTAssertGreaterThan(identities, 0)
        XCTAssertGreaterThan(changed, 25)
    }
}
