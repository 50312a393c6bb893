@testable import Data
import Foundation
import XCTest

/// torchvision's RandomErasing: the share of erased images, the boxes' area share and aspect
/// ratio over many draws against torchvision's parameters, and the box zeroed in every channel.
final class RandomErasingTests: XCTestCase {
    func testDrawsFollowTorchvisionsParametersAndTheBoxIsZeroed() throws {
        let base = SyntheticImages(count: 4000, classes: 3, shape: [3, 32, 40], seed: 1)
        let erasing = RandomErasing(base, probability: 0.5, seed: 7)
        var erased = 0
        var shares: [Double] = []
        for index in 0..<4000 {
            guard let box = erasing.box(index: index, epoch: 2) else { continue }
            erased += 1
            XCTAssertTrue(box.height < 32 && box.width < 40 && box.top + box.height <= 32 && box.left + box.width <= 40)
            let share = Double(box.height * box.width) / (32 * 40)
            shares.append(share)
            let aspect = Double(box.height) / Double(box.width)
            // Rounding h and w to whole pixels moves the share and aspect a little past the drawn ones.
            XCTAssertTrue(share > 0.01 && share < 0.40, "area share \(share)")
            XCTAssertTrue(aspect > 0.2 && aspect < 4.5, "aspect \(aspect)")
        }
        XCTAssertEqual(Double(erased) / 4000, 0.5, accuracy: 0.03, "p = 0.5 (a few draws find no box that fits)")
        // The share is uniform on [0.02, 0.33] before rounding: its mean is near 0.175.
        XCTAssertEqual(shares.reduce(0, +) / Double(shares.count), 0.175, accuracy: 0.02)

        let index = (0..<100).first { erasing.box(index: $0, epoch: 0) != nil }!
        let box = erasing.box(index: index, epoch: 0)!
        var plain = [Float](repeating: 0, count: 3 * 32 * 40), image = plain
        var label: Int32 = 0
        try base.load(index, epoch: 0, image: &plain, labels: &label)
        try erasing.load(index, epoch: 0, image: &image, labels: &label)
        for c in 0..<3 { for y in 0..<32 { for x in 0..<40 {
            let p = (c * 32 + y) * 40 + x
            let inside = y >= box.top && y < box.top + box.height && x >= box.left && x < box.left + box.width
            XCTAssertEqual(image[p], inside ? 0 : plain[p], "(\(c), \(y), \(x))")
        } } }
        XCTAssertNil(RandomErasing(base, probability: 0, seed: 7).box(index: index, epoch: 0))
    }
}
