import ArgumentParser
import Data
import Foundation
import Kernels

/// Loader throughput (images/s) per data source, with 1 and 2 worker threads: the rate at
/// which the pipeline can feed a training step. A benchmark, not a test.
@main
struct DataBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "data-bench", abstract: "Data loader images/s per source.")

    @Option(help: "Images per batch.") var batchSize = 64
    @Option(help: "Batches timed per measurement.") var batches = 20
    @Option(help: "Comma-separated worker counts.") var workers = "1,2"

    func run() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ddptrain-data-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let sources: [(String, () throws -> Dataset)] = [
            ("fashion-mnist (train, crop+flip)", { try FashionMNIST.load(train: true, augment: true, seed: 0) }),
            ("cifar10 (train, crop+flip)", { try makeCIFAR(scratch) }),
            ("imagefolder 500x375 JPEG -> 224", { try makeImageFolder(scratch) }),
            ("synthetic 3x224x224", { SyntheticImages(count: 10_000, classes: 1000, seed: 0) }),
            ("shapes 3x64x64 (segmentation)", { Shapes(count: 10_000, seed: 0) }),
        ]
        let workerCounts = workers.split(separator: ",").compactMap { Int($0) }
        print("batch \(batchSize), \(batches) batches per measurement, \(System.coreCount) cores")
        print(pad("source", 36) + workerCounts.map { pad("\($0) worker\($0 == 1 ? "" : "s")", 16) }.joined())
        for (name, open) in sources {
            let dataset = try open()
            var line = pad(name, 36)
            for w in workerCounts {
                let sampler = DistributedSampler(datasetSize: dataset.count, batchSize: batchSize, seed: 1)
                let plan = Array(sampler.batches(epoch: 0).prefix(batches))
                let stream = DataLoader(dataset: dataset, workers: w, prefetch: 4).stream(plan, epoch: 0)
                let start = System.now()
                var images = 0
                while let batch = try stream.next() { images += batch.count }
                line += pad(String(format: "%9.0f img/s", Double(images) / (System.now() - start)), 16)
            }
            print(line)
        }
    }
}

func makeCIFAR(_ scratch: String) throws -> Dataset {
    let folder = "\(scratch)/cifar"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var rng = RandomGenerator(seed: 1)
    var bytes = [UInt8]()
    for _ in 0..<2_000 { bytes.append(UInt8(rng.next() % 10)); for _ in 0..<3072 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) } }
    for name in (1...5).map({ "data_batch_\($0).bin" }) + ["test_batch.bin"] {
        _ = FileManager.default.createFile(atPath: "\(folder)/\(name)", contents: Data(bytes))
    }
    return try CIFAR.load(.cifar10, directory: folder, train: true, augment: true, seed: 0)
}

func makeImageFolder(_ scratch: String) throws -> Dataset {
    var rng = RandomGenerator(seed: 2)
    for c in 0..<4 {
        let folder = "\(scratch)/images/train/class\(c)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 0..<64 {
            var pixels = [UInt8](repeating: 0, count: 500 * 375 * 3)
            for p in 0..<pixels.count { pixels[p] = UInt8(truncatingIfNeeded: (p / 3 % 500) + c * 40 + Int(rng.next() % 16)) }
            let jpeg = try ImageCodec.encodeJPEG(DecodedImage(width: 500, height: 375, channels: 3, pixels: pixels), quality: 90)
            _ = FileManager.default.createFile(atPath: "\(folder)/\(i).JPEG", contents: Data(jpeg))
        }
    }
    return try ImageFolder(root: "\(scratch)/images", split: "train", train: true, seed: 0)
}

func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }
