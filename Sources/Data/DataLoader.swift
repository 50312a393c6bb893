import Autograd
import Foundation
import Kernels

/// One step's samples: images `[n, C, H, W]`, labels (n, or n·H·W for segmentation) and
/// the dataset indices they came from.
public struct Batch: @unchecked Sendable {
    public let images: Tensor
    public let labels: [Int32]
    public let indices: [Int]
    public var count: Int { indices.count }
}

/// Decodes, augments and batches on background threads while the current step computes,
/// through a bounded queue of `prefetch` batches. With `workers: 0` batches are built on the
/// caller's thread when asked for (deterministic timing, for tests and debugging).
public final class DataLoader: Sendable {
    public let dataset: Dataset
    public let workers: Int
    public let prefetch: Int
    public let badSamples: BadSamplePolicy
    /// What `badSamples: .skip` replaced.
    public let badSampleLog: BadSampleLog

    public init(dataset: Dataset, workers: Int = 1, prefetch: Int = 4, badSamples: BadSamplePolicy = .error,
                badSampleLog: BadSampleLog = BadSampleLog()) {
        precondition(workers >= 0 && prefetch >= 1, "loader: workers \(workers), prefetch \(prefetch)")
        self.dataset = dataset; self.workers = workers; self.prefetch = prefetch
        self.badSamples = badSamples; self.badSampleLog = badSampleLog
    }

    /// Builds one batch from dataset indices.
    public func makeBatch(_ indices: [Int], epoch: Int) throws -> Batch {
        let shape = dataset.sampleShape
        let images = Tensor(uninitialized: [indices.count] + shape)
        let per = dataset.labelsPerSample, size = dataset.sampleCount
        var labels = [Int32](repeating: 0, count: indices.count * per)
        try labels.withUnsafeMutableBufferPointer { out in
            for (i, index) in indices.enumerated() {
                try dataset.load(index, epoch: epoch, image: images.pointer + i * size, labels: out.baseAddress! + i * per,
                                 policy: badSamples, log: badSampleLog)
            }
        }
        return Batch(images: images, labels: labels, indices: indices)
    }

    /// The batches of one epoch (or what is left of it), in order.
    public func stream(_ batches: [[Int]], epoch: Int) -> BatchStream {
        BatchStream(loader: self, plan: batches, epoch: epoch)
    }
}

/// Batches in order; `next()` blocks only when the workers are behind. Dropping the stream
/// stops its workers after the batch they are on.
public final class BatchStream: @unchecked Sendable {
    let loader: DataLoader
    let plan: [[Int]]
    let epoch: Int
    private let condition = NSCondition()
    private var ready: [Int: Result<Batch, Error>] = [:]
    private var nextToBuild = 0
    private var nextToHand = 0
    private var cancelled = false
    /// Seconds `next()` spent waiting for the workers (the trainer's "data wait").
    public private(set) var waitSeconds = 0.0

    init(loader: DataLoader, plan: [[Int]], epoch: Int) {
        self.loader = loader; self.plan = plan; self.epoch = epoch
        for _ in 0..<loader.workers {
            let thread = Thread { [weak self] in self?.work() }
            thread.name = "ddptrain-loader"
            thread.start()
        }
    }

    deinit { cancel() }

    public var count: Int { plan.count }

    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while !cancelled && nextToBuild < plan.count && nextToBuild - nextToHand >= loader.prefetch { condition.wait() }
            if cancelled || nextToBuild >= plan.count {
                condition.unlock()
                return
            }
            let index = nextToBuild
            nextToBuild += 1
            condition.unlock()
            let result = Result { try loader.makeBatch(plan[index], epoch: epoch) }
            condition.lock()
            ready[index] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next batch, nil at the end; rethrows a data error from the worker that met it.
    public func next() throws -> Batch? {
        guard nextToHand < plan.count else { return nil }
        if loader.workers == 0 {
            defer { nextToHand += 1 }
            return try loader.makeBatch(plan[nextToHand], epoch: epoch)
        }
        let start = System.now()
        condition.lock()
        while ready[nextToHand] == nil { condition.wait() }
        let result = ready.removeValue(forKey: nextToHand)!
        nextToHand += 1
        condition.broadcast()
        condition.unlock()
        waitSeconds += System.now() - start
        return try result.get()
    }
}
