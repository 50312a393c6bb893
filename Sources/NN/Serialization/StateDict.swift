import Autograd

/// Every way a set of named tensors can fail to fit a model, reported together.
public struct StateDictMismatch: Error, CustomStringConvertible {
    public var missing: [String] = []
    public var unexpected: [String] = []
    public var misshaped: [(name: String, expected: [Int], found: [Int])] = []
    public let source: String

    public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && misshaped.isEmpty }

    public var description: String {
        var lines = ["\(source) does not fit the model:"]
        if !missing.isEmpty { lines.append("  missing keys: \(missing.joined(separator: ", "))") }
        if !unexpected.isEmpty { lines.append("  unexpected keys: \(unexpected.joined(separator: ", "))") }
        for m in misshaped { lines.append("  \(m.name): the model has shape \(m.expected), the weights \(m.found)") }
        return lines.joined(separator: "\n")
    }
}

extension Module {
    /// Copies `tensors` into the model's parameters and buffers by PyTorch name. Strict: any
    /// missing, unexpected or mis-shaped key fails the whole load, and nothing is changed.
    /// With `skipping` (the classifier head's prefix, e.g. `fc.`), keys under it are left at
    /// their initial values, so pretrained weights can be fine-tuned on another class count.
    /// Returns the names it skipped.
    @discardableResult
    public func loadStateDict(_ tensors: [(name: String, tensor: Tensor)], skipping headPrefix: String? = nil,
                              source: String = "weights") throws -> [String] {
        let own = stateDict()
        let given = Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        let ownNames = Set(own.map(\.name))
        func skipped(_ name: String) -> Bool { headPrefix.map { name.hasPrefix($0) } ?? false }
        var mismatch = StateDictMismatch(source: source)
        for (name, tensor) in own where !skipped(name) {
            guard let value = given[name] else { mismatch.missing.append(name); continue }
            if value.shape != tensor.shape && !(value.count == 1 && tensor.count == 1) {
                mismatch.misshaped.append((name, tensor.shape, value.shape))
            }
        }
        mismatch.unexpected = tensors.map(\.name).filter { !ownNames.contains($0) && !skipped($0) }
        guard mismatch.isEmpty else { throw mismatch }
        var skippedNames: [String] = []
        for (name, tensor) in own {
            if skipped(name) { skippedNames.append(name); continue }
            tensor.copyValues(from: given[name]!)
        }
        return skippedNames
    }

    /// The state dict as safetensors entries: F32, with `num_batches_tracked` as I64 as PyTorch stores it.
    public func safeTensorsEntries() -> [SafeTensors.Entry] {
        stateDict().map { name, tensor in
            SafeTensors.Entry(name: name, tensor: tensor, dtype: name.hasSuffix("num_batches_tracked") ? .I64 : .F32)
        }
    }
}
