import Autograd
import Data
import XCTest

final class SamplerTests: XCTestCase {
    func shards(_ n: Int, world: Int, batch: Int, dropLast: Bool = false, epoch: Int = 0, seed: UInt64 = 1) -> [[[Int]]] {
        (0..<world).map {
            DistributedSampler(datasetSize: n, worldSize: world, rank: $0, batchSize: batch, seed: seed, dropLast: dropLast)
                .batches(epoch: epoch)
        }
    }

    func testShardsAreDisjointCoverEverythingAndHaveEqualBatchCounts() {
        for (n, world, batch) in [(100, 4, 8), (101, 4, 8), (7, 3, 2), (60_000, 2, 64)] {
            let all = shards(n, world: world, batch: batch)
            XCTAssertEqual(Set(all.map(\.count)).count, 1, "equal batch counts for n \(n) world \(world)")
            XCTAssertEqual(Set(all.map { $0.flatMap { $0 }.count }).count, 1, "equal sample counts")
            let flat = all.flatMap { $0.flatMap { $0 } }
            XCTAssertEqual(Set(flat), Set(0..<n), "every sample is seen")
            XCTAssertEqual(flat.count - Set(flat).count, (world - n % world) % world, "only the padding repeats")
            let dropped = shards(n, world: world, batch: batch, dropLast: true)
            XCTAssertEqual(Set(dropped.map(\.count)).count, 1)
            XCTAssertTrue(dropped.allSatisfy { $0.allSatisfy { $0.count == batch } }, "drop_last: full batches only")
            let droppedFlat = dropped.flatMap { $0.flatMap { $0 } }
            XCTAssertEqual(droppedFlat.count, Set(droppedFlat).count, "drop_last: disjoint")
        }
    }

    func testOrderIsDeterministicPerSeedAndEpoch() {
        XCTAssertEqual(shards(50, world: 2, batch: 4), shards(50, world: 2, batch: 4))
        XCTAssertNotEqual(shards(50, world: 2, batch: 4, epoch: 0), shards(50, world: 2, batch: 4, epoch: 1))
        XCTAssertNotEqual(shards(50, world: 2, batch: 4, seed: 1), shards(50, world: 2, batch: 4, seed: 2))
    }

    func testMidEpochStartContinuesExactly() {
        let sampler = DistributedSampler(datasetSize: 103, worldSize: 3, rank: 1, batchSize: 5, seed: 9)
        let whole = sampler.batches(epoch: 2)
        XCTAssertEqual(sampler.batches(epoch: 2, startingAtBatch: 4), Array(whole[4...]))
        XCTAssertEqual(sampler.batchesPerEpoch, whole.count)
    }

    /// 2 ranks × batch 4 and 4 ranks × batch 2 consume the same global batches; after a
    /// resume on another world size the rest of the epoch is the same set of samples.
    func testWorldSizeChangeKeepsTheGlobalOrder() {
        let two = shards(64, world: 2, batch: 4)
        let four = shards(64, world: 4, batch: 2)
        for step in 0..<two[0].count {
            XCTAssertEqual(Set(two.flatMap { $0[step] }), Set(four.flatMap { $0[step] }), "global batch \(step)")
        }
        let consumed = 3 * 4 * 2  // three steps of 2 ranks × 4
        let resumed = (0..<4).flatMap {
            DistributedSampler(datasetSize: 64, worldSize: 2, rank: 0, batchSize: 4, seed: 1).rebuilt(worldSize: 4, rank: $0)
                .batches(epoch: 0, startSample: consumed).flatMap { $0 }
        }
        let remaining = two.flatMap { $0.dropFirst(3).flatMap { $0 } }
        XCTAssertEqual(Set(resumed), Set(remaining))
        XCTAssertEqual(resumed.count, remaining.count)
    }

    func testEvaluationCountsEverySampleOnce() {
        for world in 1...5 {
            let all = (0..<world).flatMap { EvaluationSampler(datasetSize: 10_000, worldSize: world, rank: $0, batchSize: 256).batches().flatMap { $0 } }
            XCTAssertEqual(all.count, 10_000)
            XCTAssertEqual(Set(all).count, 10_000)
        }
    }

    func testAugmentationDependsOnlyOnSeedEpochAndIndex() throws {
        let pixels = (0..<(4 * 3 * 8 * 8)).map { UInt8($0 % 251) }
        let data = InMemoryImages(pixels: pixels, labels: [0, 1, 2, 3], channels: 3, height: 8, width: 8, classCount: 4,
                                  normalization: .cifar10, cropPadding: 2, flip: true, seed: 5)
        func sample(_ index: Int, _ epoch: Int) throws -> [Float] {
            var out = [Float](repeating: 0, count: 192), label: [Int32] = [0]
            try data.load(index, epoch: epoch, image: &out, labels: &label)
            return out
        }
        XCTAssertEqual(try sample(2, 3), try sample(2, 3))
        let epochs = try (0..<8).map { try sample(2, $0) }
        XCTAssertGreaterThan(Set(epochs.map { $0.description }).count, 1, "crops change from epoch to epoch")
        // Through the loader, on worker threads and in another batch composition, the same sample is the same.
        let loader = DataLoader(dataset: data, workers: 2, prefetch: 2)
        let stream = loader.stream([[3, 2], [1, 0]], epoch: 3)
        let first = try XCTUnwrap(try stream.next())
        XCTAssertEqual(Array(first.images.toArray()[192..<384]), try sample(2, 3))
        XCTAssertEqual(first.labels, [3, 2])
    }

    /// torchvision's RandomCrop(size, padding=2) + RandomHorizontalFlip on an image whose every
    /// pixel differs: each augmented sample is the original shifted by at most 2 (zero fill),
    /// perhaps mirrored, and over epochs both mirrored and plain samples and several shifts occur.
    func testCropAndFlipAreTorchvisionsRandomCropAndFlip() throws {
        let (h, w) = (6, 7)
        let pixels = (0..<(h * w)).map { UInt8(10 + 5 * $0) }
        let data = InMemoryImages(pixels: pixels, labels: [0], channels: 1, height: h, width: w, classCount: 1,
                                  normalization: Normalization(mean: [0], std: [1]), cropPadding: 2, flip: true, seed: 8)
        var seen = Set<String>()
        for epoch in 0..<40 {
            var out = [Float](repeating: 0, count: h * w), label: [Int32] = [0]
            try data.load(0, epoch: epoch, image: &out, labels: &label)
            let got = out.map { Int(($0 * 255).rounded()) }
            var match: String?
            for dy in -2...2 { for dx in -2...2 { for mirrored in [false, true] {
                let expected = (0..<(h * w)).map { i -> Int in
                    let (y, x) = (i / w, mirrored ? w - 1 - i % w : i % w)
                    let (sy, sx) = (y + dy, x + dx)
                    return sy >= 0 && sy < h && sx >= 0 && sx < w ? Int(pixels[sy * w + sx]) : 0
                }
                if expected == got { match = "\(dx),\(dy),\(mirrored)" }
            } } }
            guard let match else { return XCTFail("epoch \(epoch): not a shifted (and perhaps mirrored) copy: \(got)") }
            seen.insert(match)
        }
        XCTAssertTrue(seen.contains { $0.hasSuffix("true") } && seen.contains { $0.hasSuffix("false") }, "\(seen)")
        XCTAssertGreaterThan(Set(seen.map { $0.split(separator: ",").prefix(2).joined() }).count, 5, "\(seen)")
    }

    func testLoaderWithWorkersMatchesInlineAndReportsErrors() throws {
        let data = SyntheticImages(count: 40, classes: 3, shape: [1, 4, 4], seed: 2)
        let plan = DistributedSampler(datasetSize: 40, batchSize: 6, seed: 1).batches(epoch: 0)
        func collect(_ workers: Int) throws -> [[Float]] {
            let stream = DataLoader(dataset: data, workers: workers, prefetch: 3).stream(plan, epoch: 0)
            var out: [[Float]] = []
            while let batch = try stream.next() { out.append(batch.images.toArray()) }
            return out
        }
        XCTAssertEqual(try collect(0), try collect(2))
        XCTAssertEqual(try collect(2).count, plan.count)

        struct Failing: Dataset {
            var count: Int { 4 }
            var classCount: Int { 2 }
            var sampleShape: [Int] { [1, 1, 1] }
            var isSegmentation: Bool { false }
            func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws {
                if index == 3 { throw DataError("image 3 is broken") }
                image[0] = 0; labels[0] = 0
            }
        }
        let stream = DataLoader(dataset: Failing(), workers: 1).stream([[0, 1], [2, 3]], epoch: 0)
        XCTAssertNotNil(try stream.next())
        XCTAssertThrowsError(try stream.next()) { XCTAssertTrue("\($0)".contains("image 3 is broken")) }
    }
}
