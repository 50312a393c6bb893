import Data
import Distributed
import Foundation
import TestSupport
import Training
import XCTest

/// An ImageNet-style folder as users have them: CMYK and YCCK JPEGs, grey JPEGs, RGBA and
/// 16-bit PNGs, one truncated JPEG and one file that is no image at all.
final class ImageFolderTrainingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("DataTests/Fixtures").path
    let badFiles = ["train/b/broken.jpg", "train/b/notes.jpeg"]

    func makeFolder(_ root: String) throws {
        func put(_ bytes: [UInt8], _ path: String) throws {
            try FileManager.default.createDirectory(atPath: ("\(root)/\(path)" as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/\(path)"))
        }
        func picture(_ seed: Int, channels: Int = 3) -> DecodedImage {
            DecodedImage(width: 14, height: 11, channels: channels,
                         pixels: (0..<(14 * 11 * channels)).map { UInt8(($0 * 7 + seed * 31) % 256) })
        }
        for i in 0..<10 {
            try put(ImageCodec.encodeJPEG(picture(i)), "train/a/good\(i).jpg")
            try put(ImageCodec.encodePNG(picture(i + 10)), "train/b/good\(i).png")
        }
        try put(ImageCodec.encodeJPEG(picture(1, channels: 4)), "train/a/ycck.jpg")
        try put(ImageCodec.encodeJPEG(picture(2, channels: 1)), "train/a/grey.jpg")
        for fixture in ["cmyk.jpg", "rgba.png", "rgb16.png", "grey16.png"] {
            try put(Array(try Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/\(fixture)"))), "train/a/\(fixture)")
        }
        let jpeg = try ImageCodec.encodeJPEG(picture(3))
        try put(Array(jpeg.prefix(jpeg.count / 2)), badFiles[0])
        try put(Array("class notes, not a picture".utf8), badFiles[1])
        for i in 0..<2 {
            try put(ImageCodec.encodeJPEG(picture(20 + i)), "val/a/v\(i).jpg")
            try put(ImageCodec.encodePNG(picture(30 + i)), "val/b/v\(i).png")
        }
    }

    func config(_ root: String, seed: UInt64) -> TrainingConfig {
        var c = TrainingConfig()
        c.model = "resnet18"
        c.data = "imagefolder"
        c.dataDir = root
        c.imageSize = 8
        c.stem = .cifar
        c.batchSize = 4
        c.epochs = 1
        c.lr = 0.05
        c.workers = 1
        c.seed = seed
        c.checkpointDir = "\(root)/ckpt"
        c.logDir = "\(root)/logs"
        return c
    }

    final class Warnings: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    func trainer(_ config: TrainingConfig, warnings: Warnings) throws -> Trainer {
        let console = Console(rank: 1)
        console.onWarning = { warnings.add($0) }
        return try Trainer(config: config, communicator: SingleProcessCommunicator(), console: console)
    }

    /// `error` stops at the first bad file with its name and a checkpoint of the step before;
    /// `--resume auto --bad-samples skip` finishes the epoch from there, naming each skipped file once.
    func testErrorSavesTheLastStepAndSkipResumesToTheEnd() throws {
        let root = temporaryFolder("imagefolder")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeFolder(root)
        let data = try ImageFolder(root: root, split: "train", size: 8, train: true, seed: 0)
        XCTAssertEqual(data.count, 28)
        let bad = Set(badFiles.map { "\(root)/\($0)" })
        // A seed whose epoch meets the first bad file after at least one whole step.
        let (seed, firstBad) = (UInt64(0)..<50).lazy.compactMap { seed -> (UInt64, Int)? in
            let order = DistributedSampler(datasetSize: data.count, worldSize: 1, rank: 0, batchSize: 4, seed: seed)
                .batches(epoch: 0).joined()
            let position = order.firstIndex { bad.contains(data.files[$0]) }.map { order.distance(from: order.startIndex, to: $0) }
            return position.map { $0 >= 4 ? (seed, $0) : nil } ?? nil
        }.first!
        let completed = firstBad / 4
        let warnings = Warnings()

        var stopping = config(root, seed: seed)
        stopping.badSamples = .error
        XCTAssertThrowsError(try trainer(stopping, warnings: warnings).run()) { error in
            XCTAssertTrue(bad.contains { "\(error)".contains($0) }, "names the file: \(error)")
            XCTAssertTrue("\(error)".contains("step-\(String(format: "%09d", completed)).safetensors at step \(completed)"), "\(error)")
        }
        let saved = try Checkpoint.load("\(root)/ckpt/step-\(String(format: "%09d", completed)).safetensors")
        XCTAssertEqual(saved.progress.globalStep, completed)

        var resuming = config(root, seed: seed)
        resuming.badSamples = .skip
        resuming.resume = "auto"
        let resumed = try trainer(resuming, warnings: warnings)
        XCTAssertEqual(resumed.progress.globalStep, completed)
        let summary = try resumed.run()
        XCTAssertEqual(resumed.progress.globalStep, 7, "the epoch ran to its end")
        XCTAssertEqual(summary.badSamples, 2, "both bad files lie after the failing step")
        XCTAssertNotNil(summary.lastEvaluation)
        for file in bad {
            XCTAssertEqual(warnings.all.filter { $0.contains(file) }.count, 1, "\(file) named once in \(warnings.all)")
        }
        XCTAssertTrue(summary.closingLine.contains("2 bad samples replaced"), summary.closingLine)
    }

    /// Skipping replaces a bad sample by the next one that loads, the same every epoch and
    /// whatever the loader threads; each file is reported once however often it is met.
    func testSkipIsDeterministicAndReportsOnce() throws {
        let root = temporaryFolder("imagefolder-skip")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeFolder(root)
        let warnings = Warnings()
        var c = config(root, seed: 3)
        c.badSamples = .skip
        c.epochs = 2
        let summary = try trainer(c, warnings: warnings).run()
        XCTAssertEqual(summary.steps, 14)
        XCTAssertEqual(summary.badSamples, 4, "two bad files, two epochs")
        XCTAssertEqual(warnings.all.count, 2, "\(warnings.all)")

        var again = config(root, seed: 3)
        again.badSamples = .skip
        again.epochs = 2
        again.workers = 0
        again.checkpointDir = "\(root)/ckpt2"
        again.logDir = "\(root)/logs2"
        XCTAssertEqual(try trainer(again, warnings: Warnings()).run().losses, summary.losses, "same replacements, same losses")
    }
}
