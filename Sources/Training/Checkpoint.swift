import Autograd
import Foundation
import NN
import Optim

/// Where a run stands, saved with every checkpoint.
public struct TrainingProgress: Codable, Equatable, Sendable {
    public var epoch = 0
    /// Optimizer steps done in `epoch`.
    public var stepInEpoch = 0
    /// Samples all ranks together consumed in `epoch` (how the sampler resumes, on any world size).
    public var samplesInEpoch = 0
    public var globalStep = 0
    public var worldSize = 1
    public var globalBatch = 0
    public var seed: UInt64 = 0
    public var bestAccuracy: Double?
    public var lrFactor = 1.0
    public init() {}

    enum CodingKeys: String, CodingKey {
        case epoch, stepInEpoch = "step_in_epoch", samplesInEpoch = "samples_in_epoch", globalStep = "global_step"
        case worldSize = "world_size", globalBatch = "global_batch", seed, bestAccuracy = "best_accuracy", lrFactor = "lr_factor"
    }
}

/// One checkpoint file: a safetensors file whose tensors are the model's state dict (PyTorch
/// names, so PyTorch's safetensors loader reads them) plus the optimizer state under
/// `__optimizer__.<parameter>.<key>`, and whose metadata holds the progress, the config, the
/// model name, the format version and a CRC-32C over the progress and all tensor bytes.
public struct Checkpoint {
    public static let formatVersion = "1"
    static let optimizerPrefix = "__optimizer__."

    public var model: String
    public var progress: TrainingProgress
    public var config: [String: Any]
    public var modelState: [(name: String, tensor: Tensor)]
    public var optimizerState: [String: [String: Tensor]]

    // MARK: writing

    public static func encode(model: String, module: Module, optimizer: Optimizer?, progress: TrainingProgress,
                              config: [String: Any]) throws -> [UInt8] {
        var entries = module.safeTensorsEntries()
        for (param, state) in (optimizer?.state ?? [:]).sorted(by: { $0.key < $1.key }) {
            for (key, tensor) in state.sorted(by: { $0.key < $1.key }) {
                entries.append(.init(name: "\(optimizerPrefix)\(param).\(key)", tensor: tensor))
            }
        }
        let progressJSON = String(decoding: try JSONEncoder.sorted.encode(progress), as: UTF8.self)
        let configJSON = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
        let metadata = ["format": "pt", "ddptrain.format_version": formatVersion, "ddptrain.model": model,
                        "ddptrain.progress": progressJSON, "ddptrain.config": configJSON]
        return SafeTensors.encode(entries, metadata: metadata) { data in
            ["ddptrain.checksum": checksum(metadata: metadata, data: data[...])]
        }
    }

    static func checksum(metadata: [String: String], data: ArraySlice<UInt8>) -> String {
        var crc: UInt32 = 0
        for key in ["ddptrain.format_version", "ddptrain.model", "ddptrain.progress", "ddptrain.config"] {
            crc = CRC32C.checksum(Array((metadata[key] ?? "").utf8), seed: crc)
        }
        crc = data.withUnsafeBytes { CRC32C.checksum($0, seed: crc) }
        return String(format: "%08x", crc)
    }

    // MARK: reading

    /// Reads and verifies a checkpoint; every problem is a `TrainingError` naming the file.
    public static func load(_ path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError("\(path): checkpoint not found or unreadable")
        }
        let bytes = [UInt8](data)
        let (entries, metadata): ([SafeTensors.Entry], [String: String])
        do { (entries, metadata) = try SafeTensors.decode(bytes, source: path) } catch {
            throw TrainingError("\(path): not a readable checkpoint (\(error))")
        }
        guard let version = metadata["ddptrain.format_version"] else {
            throw TrainingError("\(path): not a ddptrain checkpoint (no ddptrain metadata; plain weights go to --weights)")
        }
        guard version == formatVersion else {
            throw TrainingError("\(path): checkpoint format \(version); this ddptrain reads format \(formatVersion)")
        }
        guard let stored = metadata["ddptrain.checksum"], let section = SafeTensors.dataSection(of: bytes),
              stored == checksum(metadata: metadata, data: section) else {
            throw TrainingError("\(path): checksum mismatch; the checkpoint is corrupt")
        }
        guard let model = metadata["ddptrain.model"], let progressText = metadata["ddptrain.progress"],
              let progress = try? JSONDecoder().decode(TrainingProgress.self, from: Data(progressText.utf8)),
              let config = (try? JSONSerialization.jsonObject(with: Data((metadata["ddptrain.config"] ?? "{}").utf8))) as? [String: Any] else {
            throw TrainingError("\(path): checkpoint metadata is incomplete")
        }
        var modelState: [(String, Tensor)] = []
        var optimizerState: [String: [String: Tensor]] = [:]
        for e in entries {
            if e.name.hasPrefix(optimizerPrefix) {
                let rest = e.name.dropFirst(optimizerPrefix.count)
                guard let dot = rest.lastIndex(of: ".") else { continue }
                optimizerState[String(rest[..<dot]), default: [:]][String(rest[rest.index(after: dot)...])] = e.tensor
            } else {
                modelState.append((e.name, e.tensor))
            }
        }
        return Checkpoint(model: model, progress: progress, config: config, modelState: modelState, optimizerState: optimizerState)
    }

    /// Puts the saved state into a model and optimizer built for the same configuration.
    public func restore(into module: Module, optimizer: Optimizer?, modelName: String, source: String) throws {
        guard model == modelName else {
            throw TrainingError("\(source): checkpoint of model '\(model)', but the run builds '\(modelName)'")
        }
        try module.loadStateDict(modelState, source: source)
        guard let optimizer else { return }
        let shapes = Dictionary(uniqueKeysWithValues: module.namedParameters().map { ($0.name, $0.tensor.shape) })
        for (param, state) in optimizerState {
            guard let shape = shapes[param] else { throw TrainingError("\(source): optimizer state for unknown parameter \(param)") }
            for (key, tensor) in state where tensor.count > 1 && tensor.shape != shape {
                throw TrainingError("\(source): optimizer \(key) of \(param) has shape \(tensor.shape), the parameter \(shape)")
            }
        }
        optimizer.state = optimizerState
    }
}

/// The checkpoint folder: atomic writes, verification on load, the newest valid one, and
/// keeping the last K plus the best.
public final class CheckpointStore {
    public let directory: String
    public let keep: Int

    public init(directory: String, keep: Int) {
        self.directory = directory
        self.keep = keep
    }

    public static func fileName(step: Int) -> String { String(format: "step-%09d.safetensors", step) }
    public var bestPath: String { "\(directory)/best.safetensors" }

    /// Checks the folder can be written before training starts (a run should not find out at its first save).
    public func prepare() throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw TrainingError("\(directory): cannot create the checkpoint folder (\(error.localizedDescription))")
        }
        let probe = "\(directory)/.write-test-\(getpid())"
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw TrainingError("\(directory): the checkpoint folder is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
    }

    /// Step files, newest first.
    public func checkpoints() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".safetensors") }.sorted(by: >).map { "\(directory)/\($0)" }
    }

    /// Writes `bytes` as the checkpoint of `step` (and as the best one when `isBest`), then
    /// prunes all but the last `keep`. A crash at any point leaves the earlier files intact.
    @discardableResult
    public func save(_ bytes: [UInt8], step: Int, isBest: Bool) throws -> String {
        let path = "\(directory)/\(Self.fileName(step: step))"
        try Self.atomicWrite(bytes, to: path)
        if isBest { try Self.atomicWrite(bytes, to: bestPath) }
        for old in checkpoints().dropFirst(keep) { try? FileManager.default.removeItem(atPath: old) }
        // Leftovers of writers that died mid-write.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(".tmp-") {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
        return path
    }

    /// The newest checkpoint that verifies; each one that does not is reported to `skipped`.
    public func latestValid(skipped: (String, Error) -> Void = { _, _ in }) -> (path: String, checkpoint: Checkpoint)? {
        for path in checkpoints() {
            do { return (path, try Checkpoint.load(path)) } catch { skipped(path, error) }
        }
        return nil
    }

    /// Temporary file in the same folder, fsync, rename into place, fsync the folder.
    public static func atomicWrite(_ bytes: [UInt8], to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        let temporary = "\(folder)/.tmp-\(getpid())-\((path as NSString).lastPathComponent)"
        let fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TrainingError("\(folder): cannot write a checkpoint here (\(String(cString: strerror(errno))))") }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok else {
            unlink(temporary)
            throw TrainingError("\(path): writing the checkpoint failed (\(String(cString: strerror(errno)))); earlier checkpoints are untouched")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw TrainingError("\(path): cannot move the checkpoint into place (\(String(cString: strerror(errno))))")
        }
        let dir = open(folder, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
