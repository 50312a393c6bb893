import Autograd
import Foundation
import NN
import Optim

/// One checkpoint file: a safetensors file whose tensors are the model's state dict (PyTorch
/// names, so PyTorch's safetensors loader reads them) plus the optimizer state under
/// `__optimizer__.<parameter>.<key>`, and whose metadata holds the progress, the config, the
/// model name, the format version and a CRC-32C over the progress and all tensor bytes.
public struct Checkpoint {
    public static let formatVersion = "1"
    static let optimizerPrefix = "__optimizer__."
    static let communicationPrefix = "__ddp__."
    static let emaPrefix = "__ema__."

    public var model: String
    public var progress: TrainingProgress
    public var config: [String: Any]
    public var modelState: [(name: String, tensor: Tensor)]
    public var optimizerState: [String: [String: Tensor]]
    /// What prediction and export need; nil in checkpoints of older versions.
    public var inference: InferenceSpec?
    /// Gradient compression state (PowerSGD's factors and every rank's error), under `__ddp__.<key>`.
    public var communicationState: [String: Tensor] = [:]
    /// The weights' moving average (`--ema-decay`), under `__ema__.<name>`; empty without one.
    public var emaState: [String: Tensor] = [:]

    // MARK: writing

    public static func encode(model: String, module: Module, optimizer: Optimizer?, progress: TrainingProgress,
                              config: [String: Any], inference: InferenceSpec? = nil,
                              communicationState: [String: Tensor] = [:], emaState: [String: Tensor] = [:]) throws -> [UInt8] {
        var entries = module.safeTensorsEntries()
        for (param, state) in (optimizer?.state ?? [:]).sorted(by: { $0.key < $1.key }) {
            for (key, tensor) in state.sorted(by: { $0.key < $1.key }) {
                entries.append(.init(name: "\(optimizerPrefix)\(param).\(key)", tensor: tensor))
            }
        }
        for (key, tensor) in communicationState.sorted(by: { $0.key < $1.key }) {
            entries.append(.init(name: communicationPrefix + key, tensor: tensor))
        }
        for (key, tensor) in emaState.sorted(by: { $0.key < $1.key }) {
            entries.append(.init(name: emaPrefix + key, tensor: tensor))
        }
        let progressJSON = String(decoding: try JSONEncoder.sorted.encode(progress), as: UTF8.self)
        let configJSON = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
        var metadata = ["format": "pt", "ddptrain.format_version": formatVersion, "ddptrain.model": model,
                        "ddptrain.progress": progressJSON, "ddptrain.config": configJSON]
        if let inference { metadata["ddptrain.inference"] = String(decoding: try JSONEncoder.sorted.encode(inference), as: UTF8.self) }
        return SafeTensors.encode(entries, metadata: metadata) { data in
            ["ddptrain.checksum": checksum(metadata: metadata, data: data[...])]
        }
    }

    /// The model alone as a safetensors file with PyTorch's names and dtypes (`ddptrain export`);
    /// returns how many tensors it holds.
    public func writeModelSafeTensors(to path: String) throws -> Int {
        let entries = modelState.map {
            SafeTensors.Entry(name: $0.name, tensor: $0.tensor, dtype: $0.name.hasSuffix("num_batches_tracked") ? .I64 : .F32)
        }
        try SafeTensors.write(entries, metadata: ["format": "pt"], to: path)
        return entries.count
    }

    static func checksum(metadata: [String: String], data: ArraySlice<UInt8>) -> String {
        var crc: UInt32 = 0
        // A key a checkpoint lacks adds nothing, so older checkpoints keep their checksum.
        for key in ["ddptrain.format_version", "ddptrain.model", "ddptrain.progress", "ddptrain.config", "ddptrain.inference"] {
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
        var inference: InferenceSpec? = nil
        if let text = metadata["ddptrain.inference"] {
            do { inference = try JSONDecoder().decode(InferenceSpec.self, from: Data(text.utf8)) } catch {
                throw TrainingError("\(path): checkpoint's inference settings do not decode (\(error))")
            }
        }
        var modelState: [(String, Tensor)] = []
        var optimizerState: [String: [String: Tensor]] = [:]
        var communicationState: [String: Tensor] = [:], emaState: [String: Tensor] = [:]
        for e in entries {
            if e.name.hasPrefix(emaPrefix) {
                emaState[String(e.name.dropFirst(emaPrefix.count))] = e.tensor
            } else if e.name.hasPrefix(communicationPrefix) {
                communicationState[String(e.name.dropFirst(communicationPrefix.count))] = e.tensor
            } else if e.name.hasPrefix(optimizerPrefix) {
                let rest = e.name.dropFirst(optimizerPrefix.count)
                guard let dot = rest.lastIndex(of: ".") else { continue }
                optimizerState[String(rest[..<dot]), default: [:]][String(rest[rest.index(after: dot)...])] = e.tensor
            } else {
                modelState.append((e.name, e.tensor))
            }
        }
        return Checkpoint(model: model, progress: progress, config: config, modelState: modelState, optimizerState: optimizerState,
                          inference: inference, communicationState: communicationState, emaState: emaState)
    }

    /// The resolved config the run was trained with.
    /// The run's config; keys added since the checkpoint was written take their defaults, and
    /// keys this version does not know (a newer writer's) are left out.
    public func trainingConfig(source: String) throws -> TrainingConfig {
        do {
            let known = Set(TrainingConfig.keys)
            return try TrainingConfig().merging(values: config.filter { known.contains($0.key) }, source: source)
        } catch {
            throw TrainingError("\(source): the checkpoint's config does not decode (\(error))")
        }
    }

    /// True for the entries of the model's state dict (not optimizer or gradient-compression state).
    static func isModelEntry(_ name: String) -> Bool {
        !name.hasPrefix(optimizerPrefix) && !name.hasPrefix(communicationPrefix) && !name.hasPrefix(emaPrefix)
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

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
