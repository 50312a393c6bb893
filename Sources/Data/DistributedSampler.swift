import Kernels

/// Which samples each rank sees, batch by batch. Each epoch's order is a permutation seeded
/// by (seed, epoch), the same on every rank. Global batch j covers positions
/// [j·B·W, (j+1)·B·W) of that order; rank r takes positions r, r+W, r+2W, … of it (PyTorch's
/// `DistributedSampler` interleaving). Every rank gets the same number of batches: the order
/// is padded by wrapping to a multiple of W, or the tail is dropped (`dropLast`).
public struct DistributedSampler: Sendable, Equatable {
    public let datasetSize: Int
    public let worldSize: Int
    public let rank: Int
    /// Samples per rank per step.
    public let batchSize: Int
    public let seed: UInt64
    public let shuffle: Bool
    public let dropLast: Bool

    public init(datasetSize: Int, worldSize: Int = 1, rank: Int = 0, batchSize: Int, seed: UInt64, shuffle: Bool = true,
                dropLast: Bool = false) {
        precondition(datasetSize > 0 && worldSize > 0 && (0..<worldSize).contains(rank) && batchSize > 0,
                     "sampler: dataset \(datasetSize), world \(worldSize), rank \(rank), batch \(batchSize)")
        self.datasetSize = datasetSize; self.worldSize = worldSize; self.rank = rank
        self.batchSize = batchSize; self.seed = seed; self.shuffle = shuffle; self.dropLast = dropLast
    }

    /// The same order for another world size (resuming on more or fewer ranks).
    public func rebuilt(worldSize: Int, rank: Int) -> DistributedSampler {
        DistributedSampler(datasetSize: datasetSize, worldSize: worldSize, rank: rank, batchSize: batchSize, seed: seed,
                           shuffle: shuffle, dropLast: dropLast)
    }

    public var samplesPerRank: Int {
        dropLast ? (datasetSize / worldSize / batchSize) * batchSize : (datasetSize + worldSize - 1) / worldSize
    }

    /// Steps per epoch, equal on every rank.
    public var batchesPerEpoch: Int { (samplesPerRank + batchSize - 1) / batchSize }

    /// Positions of the epoch's order that are used: `samplesPerRank · worldSize`.
    public var globalSamplesPerEpoch: Int { samplesPerRank * worldSize }

    /// The epoch's global order of dataset indices (before padding).
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0..<datasetSize)
        guard shuffle else { return order }
        var rng = RandomGenerator(seed: seed, stream: 0xE90C, UInt64(epoch))
        for i in stride(from: datasetSize - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }

    /// This rank's batches of `epoch`, starting after `startSample` global positions (the
    /// samples all ranks together consumed before a resume; a multiple of B·W when the world
    /// size is unchanged).
    public func batches(epoch: Int, startSample: Int = 0) -> [[Int]] {
        let order = permutation(epoch: epoch)
        let total = globalSamplesPerEpoch
        var result: [[Int]] = []
        var position = startSample
        while position < total {
            let end = min(position + batchSize * worldSize, total)
            var batch: [Int] = []
            var p = position + rank
            while p < end {
                batch.append(order[p % datasetSize])  // wraps: padding repeats the start of the order
                p += worldSize
            }
            if !batch.isEmpty { result.append(batch) }
            position = end
        }
        return result
    }

    /// This rank's batches of `epoch` from step `batch` on (exact resume, same world size).
    public func batches(epoch: Int, startingAtBatch batch: Int) -> [[Int]] {
        batches(epoch: epoch, startSample: batch * batchSize * worldSize)
    }
}

/// Evaluation order: every sample exactly once over all ranks, whatever the world size (no
/// padding, so no sample is counted twice); rank r takes samples r, r+W, … in file order.
/// Ranks may hold one sample more or less; metrics are summed, never averaged per rank.
public struct EvaluationSampler: Sendable, Equatable {
    public let datasetSize: Int, worldSize: Int, rank: Int, batchSize: Int

    public init(datasetSize: Int, worldSize: Int = 1, rank: Int = 0, batchSize: Int) {
        precondition(datasetSize >= 0 && worldSize > 0 && (0..<worldSize).contains(rank) && batchSize > 0,
                     "evaluation sampler: dataset \(datasetSize), world \(worldSize), rank \(rank), batch \(batchSize)")
        self.datasetSize = datasetSize; self.worldSize = worldSize; self.rank = rank; self.batchSize = batchSize
    }

    public func batches() -> [[Int]] {
        let mine = Array(stride(from: rank, to: datasetSize, by: worldSize))
        return stride(from: 0, to: mine.count, by: batchSize).map { Array(mine[$0..<min($0 + batchSize, mine.count)]) }
    }
}
