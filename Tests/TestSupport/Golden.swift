import Autograd
import Foundation

/// PyTorch's answers in `../shared/golden` (beside the project root), read at test time.
public enum Golden {
    /// The golden folder; `DDPTRAIN_GOLDEN_DIR` overrides the default beside the project.
    public static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["DDPTRAIN_GOLDEN_DIR"] {
            return URL(fileURLWithPath: override)
        }
        // Tests/TestSupport/Golden.swift → project root → ../shared/golden
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("shared/golden")
    }

    public struct Missing: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "golden case missing: \(path) (the golden folder must exist; tests never skip it)" }
    }

    /// One case as parsed JSON. A missing file is an error, never a skip.
    public static func load(_ name: String) throws -> [String: Any] {
        let url = directory.appendingPathComponent(name.hasSuffix(".json") ? name : "\(name).json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw Missing(path: url.path) }
        let data = try Data(contentsOf: url)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Missing(path: url.path + " (not a JSON object)")
        }
        return object
    }

    /// Every case file in the folder.
    public static func caseNames() throws -> [String] {
        guard FileManager.default.fileExists(atPath: directory.path) else { throw Missing(path: directory.path) }
        return try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// `{"shape": [...], "data": [...]}` as a tensor.
    public static func tensor(_ value: Any?) -> Tensor {
        guard let object = value as? [String: Any], let shape = object["shape"] as? [Int],
              let data = object["data"] as? [Double] ?? (object["data"] as? [NSNumber])?.map(\.doubleValue) else {
            preconditionFailure("golden: not a tensor: \(String(describing: value).prefix(200))")
        }
        return Tensor(shape: shape, data: data.map { Float($0) })
    }

    public static func tensors(_ value: Any?) -> [Tensor] {
        (value as? [Any] ?? []).map { tensor($0) }
    }
}
