import Autograd
import Foundation
import NN
import XCTest

final class SafeTensorsTests: XCTestCase {
    final class Tiny: Module, Layer {
        let fc = Linear(3, 2), bn = BatchNorm2d(2)
        override init() { super.init(); registerModule("fc", fc); registerModule("bn", bn) }
        func callAsFunction(_ x: Tensor) -> Tensor { fc(x) }
    }

    func testRoundTripKeepsNamesShapesValuesAndInt64Counter() throws {
        let model = Tiny()
        model.bn.numBatchesTracked.pointer[0] = 7
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write(model.safeTensorsEntries(), metadata: ["format": "pt"], to: path)
        let (entries, metadata) = try SafeTensors.read(contentsOf: path)
        XCTAssertEqual(metadata, ["format": "pt"])
        XCTAssertEqual(entries.map(\.name), model.stateDict().map(\.name))
        XCTAssertEqual(entries.first { $0.name == "bn.num_batches_tracked" }?.dtype, .I64)
        let copy = Tiny()
        try copy.loadStateDict(entries.map { ($0.name, $0.tensor) })
        for ((name, a), (_, b)) in zip(model.stateDict(), copy.stateDict()) {
            XCTAssertEqual(a.toArray(), b.toArray(), name)
        }
        XCTAssertEqual(copy.bn.numBatchesTracked.item(), 7)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)).count % 8, 0, "header padded to 8 bytes, F32/I64 data")
    }

    /// Bytes laid out by hand as the specification (and PyTorch's writer) does: a header with
    /// `__metadata__`, space padding, tensors in another order than the header's keys.
    func testHandBuiltFileLoads() throws {
        var header = #"{"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[],"data_offsets":[16,24]},"#
            + #""a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"h":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},"#
            + #""z":{"dtype":"BF16","shape":[1],"data_offsets":[28,30]}}"#
        while header.utf8.count % 8 != 0 { header += " " }
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8)
        for v: Float in [1, -2, 0.5, 3e-3] { bytes += withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        bytes += withUnsafeBytes(of: Int64(42).littleEndian) { Array($0) }
        bytes += [0x00, 0x3C, 0x00, 0xC0]  // F16 1.0, -2.0
        bytes += [0x40, 0x40]  // BF16 3.0
        let (entries, metadata) = try SafeTensors.decode(bytes)
        XCTAssertEqual(metadata["format"], "pt")
        XCTAssertEqual(entries.map(\.name), ["a", "b", "h", "z"])
        XCTAssertEqual(entries[0].tensor.shape, [2, 2])
        XCTAssertEqual(entries[0].tensor.toArray(), [1, -2, 0.5, 3e-3])
        XCTAssertEqual(entries[1].tensor.toArray(), [42])
        XCTAssertEqual(entries[2].tensor.toArray(), [1, -2])
        XCTAssertEqual(entries[3].tensor.toArray(), [3])
    }

    func testMalformedFilesFailWithAReason() {
        let good = SafeTensors.encode([SafeTensors.Entry(name: "w", tensor: Tensor(shape: [2], data: [1, 2]))])
        func expectFailure(_ bytes: [UInt8], mentioning text: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try SafeTensors.decode(bytes, source: "x.safetensors"), file: file, line: line) { error in
                XCTAssertTrue("\(error)".contains(text), "\(error)", file: file, line: line)
            }
        }
        expectFailure([1, 2, 3], mentioning: "shorter than")
        expectFailure(Array(good.dropLast(3)), mentioning: "outside")
        var huge = good
        huge[7] = 0x7F
        expectFailure(huge, mentioning: "past the end")
        var broken = good
        broken[8] = UInt8(ascii: "[")
        expectFailure(broken, mentioning: "JSON")
        let badType = Array(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "F32", with: "Q32").utf8)
        expectFailure(badType, mentioning: "dtype")
        let wrongSize = Array(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "[2]", with: "[3]").utf8)
        expectFailure(wrongSize, mentioning: "needs")
    }

    func testStrictLoadListsEveryProblemAndChangesNothing() {
        let model = Tiny()
        let before = model.fc.weight.toArray()
        var entries = model.stateDict().filter { $0.name != "bn.bias" }
        entries.append(("extra.weight", Tensor(zeros: [1])))
        entries = entries.map { $0.name == "fc.weight" ? ($0.name, Tensor(zeros: [3, 3])) : $0 }
        XCTAssertThrowsError(try model.loadStateDict(entries, source: "w.safetensors")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("w.safetensors"), text)
            XCTAssertTrue(text.contains("missing keys: bn.bias"), text)
            XCTAssertTrue(text.contains("unexpected keys: extra.weight"), text)
            XCTAssertTrue(text.contains("fc.weight: the model has shape [2, 3], the weights [3, 3]"), text)
        }
        XCTAssertEqual(model.fc.weight.toArray(), before)
    }

    func testNonStrictSkipsTheHeadForFineTuning() throws {
        let pretrained = Tiny()
        let target = Tiny()
        var entries = pretrained.stateDict().filter { !$0.name.hasPrefix("fc.") }
        entries.append(("fc.weight", Tensor(zeros: [1000, 3])))
        let skipped = try target.loadStateDict(entries, skipping: "fc.")
        XCTAssertEqual(skipped, ["fc.weight", "fc.bias"])
        XCTAssertEqual(target.bn.runningVar.toArray(), pretrained.bn.runningVar.toArray())
    }
}
