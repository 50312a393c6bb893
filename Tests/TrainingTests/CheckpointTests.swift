import Autograd
import Distributed
import Foundation
import TestSupport
import NN
import Optim
import Training
import XCTest

final class CheckpointTests: XCTestCase {
    /// A checkpoint of a stepped Linear(3, 2) and its SGD state; `saved` receives them.
    func makeCheckpoint(step: Int, in store: CheckpointStore, saved: ((Linear, SGD) -> Void)? = nil) throws -> String {
        let model = Linear(3, 2)
        let optimizer = SGD([ParamGroup(parameters: model.namedParameters(), lr: 0.1)], momentum: 0.9)
        model.weight.grad = Tensor(shape: [2, 3], data: [1, -2, 3, 0.5, 0.25, -4])
        optimizer.step()
        var progress = TrainingProgress()
        progress.globalStep = step
        let bytes = try Checkpoint.encode(model: "linear", module: model, optimizer: optimizer, progress: progress, config: ["lr": 0.1])
        saved?(model, optimizer)
        return try store.save(bytes, step: step, isBest: false)
    }

    /// A config written before later keys existed, or by a newer ddptrain with keys this one
    /// lacks, still decodes: missing keys take their defaults, unknown ones are left out.
    func testOlderAndNewerConfigsDecode() throws {
        let folder = temporaryFolder("ckpt-config")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var loaded = try Checkpoint.load(try makeCheckpoint(step: 3, in: CheckpointStore(directory: folder, keep: 2)))
        loaded.config["a_later_key"] = 1
        let config = try loaded.trainingConfig(source: "test")
        XCTAssertEqual(config.lr, 0.1)
        XCTAssertEqual(config.headLRFactor, 1)
        XCTAssertNil(config.freeze)
        XCTAssertEqual(config.ignoreIndex, 255)
    }

    func testRoundTripAndVerification() throws {
        let folder = temporaryFolder("ckpt")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = CheckpointStore(directory: folder, keep: 2)
        var original: (weight: [Float], bias: [Float], momentum: [Float]) = ([], [], [])
        let path = try makeCheckpoint(step: 7, in: store) { model, optimizer in
            original = (model.weight.toArray(), model.bias!.toArray(), optimizer.state["weight"]!["momentum_buffer"]!.toArray())
        }
        let loaded = try Checkpoint.load(path)
        XCTAssertEqual(loaded.progress.globalStep, 7)
        XCTAssertEqual(loaded.modelState.map(\.name), ["weight", "bias"])
        XCTAssertEqual(loaded.modelState[0].tensor.toArray(), original.weight)
        XCTAssertEqual(loaded.modelState[1].tensor.toArray(), original.bias)
        XCTAssertEqual(original.momentum, [1, -2, 3, 0.5, 0.25, -4], "SGD's first momentum buffer is the gradient")
        XCTAssertEqual(Set(loaded.optimizerState.keys), ["weight"])
        XCTAssertEqual(loaded.optimizerState["weight"]?["momentum_buffer"]?.toArray(), original.momentum)
        // One flipped byte anywhere in the tensor data fails the checksum.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 5] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: "\(folder)/flipped.safetensors"))
        XCTAssertThrowsError(try Checkpoint.load("\(folder)/flipped.safetensors")) {
            XCTAssertTrue("\($0)".contains("checksum mismatch"), "\($0)")
        }
        XCTAssertEqual(loaded.config["lr"] as? Double, 0.1)
        // A checkpoint is a valid safetensors file that PyTorch's loader reads as well.
        let (entries, metadata) = try SafeTensors.read(contentsOf: path)
        XCTAssertEqual(metadata["format"], "pt")
        XCTAssertTrue(entries.contains { $0.name == "__optimizer__.weight.momentum_buffer" })
    }

    func testKeepsTheLastK() throws {
        let folder = temporaryFolder("keep")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = CheckpointStore(directory: folder, keep: 2)
        for step in [3, 6, 9] { _ = try makeCheckpoint(step: step, in: store) }
        XCTAssertEqual(store.checkpoints().map { ($0 as NSString).lastPathComponent },
                       ["step-000000009.safetensors", "step-000000006.safetensors"])
    }

    /// A writer killed mid-write leaves a temporary file; the previous checkpoint stays the valid newest.
    /// A corrupt newest checkpoint is reported and the previous one used.
    func testInterruptedWriteAndCorruptionFallBack() throws {
        let folder = temporaryFolder("atomic")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = CheckpointStore(directory: folder, keep: 3)
        let good = try makeCheckpoint(step: 4, in: store)
        let complete = try Data(contentsOf: URL(fileURLWithPath: good))
        _ = FileManager.default.createFile(atPath: "\(folder)/.tmp-999-step-000000008.safetensors", contents: complete.prefix(100))
        XCTAssertEqual(store.latestValid()?.path, good, "a half-written temporary file is never taken")

        var corrupt = complete
        corrupt[corrupt.count - 3] ^= 0xFF
        _ = FileManager.default.createFile(atPath: "\(folder)/step-000000009.safetensors", contents: corrupt)
        _ = FileManager.default.createFile(atPath: "\(folder)/step-000000010.safetensors", contents: complete.prefix(complete.count / 2))
        var reported: [String] = []
        let found = store.latestValid { path, error in reported.append("\((path as NSString).lastPathComponent): \(error)") }
        XCTAssertEqual(found?.path, good)
        XCTAssertEqual(reported.count, 2)
        XCTAssertTrue(reported[0].hasPrefix("step-000000010") && reported[0].contains("not a readable checkpoint"), reported[0])
        XCTAssertTrue(reported[1].hasPrefix("step-000000009") && reported[1].contains("checksum mismatch"), reported[1])
    }

    func testForeignAndMissingCheckpointsAreRefused() throws {
        let folder = temporaryFolder("foreign")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        XCTAssertThrowsError(try Checkpoint.load("\(folder)/none.safetensors")) { XCTAssertTrue("\($0)".contains("not found")) }
        let plain = "\(folder)/weights.safetensors"
        try SafeTensors.write(Linear(2, 2).safeTensorsEntries(), to: plain)
        XCTAssertThrowsError(try Checkpoint.load(plain)) { XCTAssertTrue("\($0)".contains("not a ddptrain checkpoint")) }
        _ = FileManager.default.createFile(atPath: "\(folder)/junk.safetensors", contents: Data("hello".utf8))
        XCTAssertThrowsError(try Checkpoint.load("\(folder)/junk.safetensors")) { XCTAssertTrue("\($0)".contains("not a readable checkpoint")) }
        let store = CheckpointStore(directory: folder, keep: 1)
        let path = try makeCheckpoint(step: 1, in: store)
        XCTAssertThrowsError(try Checkpoint.load(path).restore(into: Linear(3, 2), optimizer: nil, modelName: "resnet18", source: path)) {
            XCTAssertTrue("\($0)".contains("checkpoint of model 'linear', but the run builds 'resnet18'"))
        }
        XCTAssertThrowsError(try Checkpoint.load(path).restore(into: Linear(4, 2), optimizer: nil, modelName: "linear", source: path)) {
            XCTAssertTrue("\($0)".contains("weight: the model has shape [2, 4], the weights [2, 3]"), "\($0)")
        }
    }

    func testTensorBoardRecordsCarryMaskedCRC32C() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283, "the CRC-32C check value")
        let payload: [UInt8] = Array("event".utf8)
        let record = TensorBoardWriter.record(payload)
        XCTAssertEqual(record.count, 8 + 4 + payload.count + 4)
        let length = record[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        XCTAssertEqual(length, UInt64(payload.count))
        func word(_ at: Int) -> UInt32 { record[at..<(at + 4)].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) } }
        XCTAssertEqual(word(8), CRC32C.masked(CRC32C.checksum(Array(record[0..<8]))))
        XCTAssertEqual(word(12 + payload.count), CRC32C.masked(CRC32C.checksum(payload)))
        XCTAssertEqual(Array(record[12..<(12 + payload.count)]), payload)
    }
}
