import Dispatch

/// Splits loops that are not BLAS calls over the rank's threads.
///
/// `threadCount` is the number of cores this rank may use; it is set once at start-up
/// (cores on the node divided by the ranks on the node) and read by every kernel.
public enum Parallel {
    nonisolated(unsafe) public static var threadCount: Int = max(1, System.coreCount)

    /// Calls `body` on disjoint sub-ranges of `0..<count`, on up to `threadCount` threads.
    /// Ranges are at least `grain` long, so tiny loops stay on the calling thread.
    public static func forRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threadCount, (count + max(grain, 1) - 1) / max(grain, 1))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            let task = UncheckedSendable(escaping)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let lower = count * chunk / chunks
                let upper = count * (chunk + 1) / chunks
                if lower < upper { task.value(lower..<upper) }
            }
        }
    }

    /// Calls `body(i)` for each `i` in `0..<count`, spread over the threads.
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Int) -> Void) {
        forRanges(count, grain: grain) { range in
            for i in range { body(i) }
        }
    }
}

/// Carries a value the caller knows to be used safely across threads (disjoint writes).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
