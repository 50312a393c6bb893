import Autograd

/// PowerSGD's state in checkpoints, so a resumed run continues exactly: each bucket's Q (the
/// same on every rank) under `powersgd.q.<bucket>`, and every rank's error feedback under
/// `powersgd.error.<rank>.<bucket>`.
extension DataParallel {
    /// A collective (every rank calls it; each gets the whole state): empty unless PowerSGD is on.
    public func compressionState() -> [String: Tensor] {
        guard options.compression == .powerSGD else { return [:] }
        var state: [String: Tensor] = [:]
        for (b, bucket) in buckets.enumerated() {
            guard let powerSGD = bucket.powerSGD else { continue }
            // A bucket of biases and norms alone has no factors.
            if !powerSGD.q.isEmpty { state["powersgd.q.\(b)"] = Tensor(shape: [powerSGD.q.count], data: Array(powerSGD.q)) }
            let mine = Array(UnsafeRawBufferPointer(powerSGD.error))
            let all = communicator.during("gathering PowerSGD error feedback (bucket \(b + 1) of \(buckets.count))") {
                communicator.allGather(mine)
            }
            for (rank, bytes) in all.enumerated() {
                let values = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                state["powersgd.error.\(rank).\(b)"] = Tensor(shape: [values.count], data: values)
            }
        }
        return state
    }

    /// Puts back what `compressionState` saved. Saved on another world size, the error feedback
    /// cannot be split among the ranks and restarts from zero: the returned note says so.
    public func restoreCompressionState(_ state: [String: Tensor]) throws -> String? {
        guard options.compression == .powerSGD, state.keys.contains(where: { $0.hasPrefix("powersgd.") }) else { return nil }
        let savedRanks = Set(state.keys.compactMap { key -> Int? in
            let parts = key.split(separator: ".")
            return parts.count == 4 && parts[1] == "error" ? Int(parts[2]) : nil
        }).count
        for (b, bucket) in buckets.enumerated() {
            guard let powerSGD = bucket.powerSGD else { continue }
            let q = state["powersgd.q.\(b)"]
            guard (q?.count ?? 0) == powerSGD.q.count else {
                throw RankMismatch(description: "the checkpoint's PowerSGD state does not fit bucket \(b + 1) "
                                              + "(another model, bucket size or --powersgd-rank)")
            }
            if let q, q.count > 0 { powerSGD.q.baseAddress!.update(from: q.pointer, count: q.count) }
            if savedRanks == communicator.size, let error = state["powersgd.error.\(communicator.rank).\(b)"],
               error.count == powerSGD.error.count {
                powerSGD.error.baseAddress!.update(from: error.pointer, count: error.count)
            } else {
                powerSGD.error.initialize(repeating: 0)
            }
        }
        return savedRanks == communicator.size ? nil
            : "PowerSGD error feedback was saved on \(savedRanks) ranks; on \(communicator.size) it restarts from zero"
    }
}
