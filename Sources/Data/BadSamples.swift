import Foundation

/// `bad_samples`: what a sample that does not decode does. `error` stops the run (after a
/// checkpoint of the last completed step; PyTorch's behaviour, minus the lost work); `skip`
/// reports it once and trains on a deterministic replacement.
public enum BadSamplePolicy: String, Codable, CaseIterable, Sendable { case error, skip }

/// The samples a loader replaced, shared by its worker threads. Each distinct sample is
/// reported once through `report`; `replacements` counts every time one was replaced.
public final class BadSampleLog: @unchecked Sendable {
    private let lock = NSLock()
    private var known: Set<Int> = []
    private var count = 0
    private let report: @Sendable (String) -> Void

    public init(report: @escaping @Sendable (String) -> Void = { _ in }) { self.report = report }

    /// Replacements made so far, and the distinct samples replaced.
    public var replacements: Int { lock.withLock { count } }
    public var distinctSamples: Int { lock.withLock { known.count } }

    func isKnownBad(_ index: Int) -> Bool { lock.withLock { known.contains(index) } }

    func record(_ index: Int, _ error: Error, replacement: Int?) {
        let first = lock.withLock { () -> Bool in
            count += replacement == nil ? 0 : 1
            return known.insert(index).inserted
        }
        if first, let replacement {
            report("skipping sample \(index), which does not load (\(error)); sample \(replacement) takes its place")
        }
    }
}

extension Dataset {
    /// Loads sample `index`, or under `.skip` the first sample after it (in index order,
    /// wrapping) that loads, so the replacement depends only on which files are bad: every
    /// rank, thread timing and resume point sees the same. Gives up after 64 bad neighbours.
    func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>,
              policy: BadSamplePolicy, log: BadSampleLog?) throws {
        guard policy == .skip else { return try load(index, epoch: epoch, image: image, labels: labels) }
        var firstError: Error?
        for step in 0..<min(count, 65) {
            let candidate = (index + step) % count
            if step > 0, log?.isKnownBad(candidate) == true { continue }
            do {
                try load(candidate, epoch: epoch, image: image, labels: labels)
                if let firstError { log?.record(index, firstError, replacement: candidate) }
                return
            } catch let error as DataError {
                if step > 0 { log?.record(candidate, error, replacement: nil) }
                firstError = firstError ?? error
            }
        }
        throw DataError("sample \(index) and the \(min(count, 65) - 1) after it do not load (first: \(firstError.map { "\($0)" } ?? "?"))")
    }
}
