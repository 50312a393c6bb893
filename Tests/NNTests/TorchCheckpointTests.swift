import Autograd
import Foundation
import Models
@testable import NN
import XCTest

/// PyTorch's own `.pth` files (Fixtures/make-pth.py, written by torch.save): read bit-exactly
/// whatever the storage type, layout or wrapper, onto our ResNets with every key matched; any
/// pickle beyond a state dict refused by name, with nothing run.
final class TorchCheckpointTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/pth").path

    func bits(_ entries: [(name: String, tensor: Tensor)]) -> [String: [UInt32]] {
        Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.tensor.toArray().map(\.bitPattern)) })
    }

    func testStateDictsLoadBitExactlyAgainstSafetensors() throws {
        let expected = try SafeTensors.read(contentsOf: "\(Self.fixtures)/small.safetensors").entries.map { ($0.name, $0.tensor) }
        XCTAssertEqual(expected.count, 7)
        for file in ["small.pth", "wrapped-model.pth", "wrapped-sd.pth"] {
            let loaded = try TorchCheckpoint.read("\(Self.fixtures)/\(file)")
            XCTAssertEqual(loaded.map(\.name), ["conv.weight", "half", "double", "bf16", "bn.num_batches_tracked", "transposed", "sliced"],
                           "\(file): the state dict's order")
            XCTAssertEqual(bits(loaded), bits(expected), file)
            let shapes = Dictionary(uniqueKeysWithValues: loaded.map { ($0.name, $0.tensor.shape) })
            XCTAssertEqual(shapes["transposed"], [5, 6], file)
            XCTAssertEqual(shapes["sliced"], [2, 3], file)
            XCTAssertEqual(shapes["bn.num_batches_tracked"], [], file)
        }
        XCTAssertEqual(bits(try WeightsFile.read("\(Self.fixtures)/small.pth")), bits(expected), "WeightsFile tells .pth by its bytes")
    }

    /// torchvision's own ResNet state dicts (float32, and float16 storages) fit our ResNets
    /// strictly, every key matched, every value where it belongs.
    func testTorchvisionResNetsLoadWithEveryKeyMatched() throws {
        for name in ["resnet18", "resnet50"] {
            let entries = try TorchCheckpoint.read("\(Self.fixtures)/\(name)-pattern.pth")
            let model = try ModelRegistry.entry(name).build(ModelOptions(numClasses: 1000))
            XCTAssertEqual(entries.count, model.stateDict().count, name)
            try model.loadStateDict(entries, source: name)
            var wrong = 0
            for (k, (key, tensor)) in model.stateDict().enumerated() {
                XCTAssertEqual(key, entries[k].name, "\(name): torchvision's order")
                let values = tensor.toArray()
                if key.hasSuffix("num_batches_tracked") {
                    if values != [Float(k)] { wrong += 1 }
                } else {
                    for i in values.indices where values[i] != Float(k) + Float(i % 7) / 4 { wrong += 1 }
                }
            }
            XCTAssertEqual(wrong, 0, "\(name): \(wrong) values not where torchvision had them")
        }
    }

    func testAnythingButAStateDictIsRefusedAndNothingRuns() {
        let marker = "/tmp/ddptrain-pickle-ran"
        try? FileManager.default.removeItem(atPath: marker)
        let cases = [
            ("evil-global.pth", "the pickle names the global posix.system"),
            ("evil-opcode.pth", "pickle protocol 4"),
            ("legacy.pth", "legacy (pre-1.6) format"),
        ]
        for (file, message) in cases {
            let path = "\(Self.fixtures)/\(file)"
            XCTAssertThrowsError(try TorchCheckpoint.read(path), file) { error in
                XCTAssertTrue("\(error)".hasPrefix(path) && "\(error)".contains(message), "\(file): \(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the pickle's code ran")
    }

    func testOpcodesAndGlobalsOutsideTheAllowedSetAreNamed() {
        // NEWOBJ (protocol 2, but not in a state dict) and a global from builtins.
        let newobj: [UInt8] = [0x80, 0x02, 0x81, 0x2E]
        XCTAssertThrowsError(try RestrictedUnpickler.load(newobj, source: "p")) { XCTAssertTrue("\($0)".contains("opcode 0x81"), "\($0)") }
        let eval: [UInt8] = [0x80, 0x02] + Array("cbuiltins\neval\n".utf8) + [0x2E]
        XCTAssertThrowsError(try RestrictedUnpickler.load(eval, source: "p")) { XCTAssertTrue("\($0)".contains("builtins.eval"), "\($0)") }
    }
}
