import Dispatch
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Splits loops that are not BLAS calls over the rank's threads.
///
/// `threadCount` is the number of cores this rank may use; it is set once at start-up
/// (cores on the node divided by the ranks on the node) and read by every kernel.
/// A loop started inside another one's chunk runs on its caller's thread: the outer loop
/// already occupies every core.
public enum Parallel {
    nonisolated(unsafe) public static var threadCount: Int = max(1, System.coreCount)

    /// Calls `body` on disjoint sub-ranges of `0..<count`, on up to `threadCount` threads.
    /// Ranges are at least `grain` long, so tiny loops stay on the calling thread.
    public static func forRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = isInsideChunk ? 1 : min(threadCount, (count + max(grain, 1) - 1) / max(grain, 1))
        forChunks(count, chunks: chunks) { _, range in body(range) }
    }

    /// Calls `body` on disjoint sub-ranges of `0..<count`, on up to `threadCount` threads.
    /// Ranges are at least `grain` long, so tiny loops stay on the calling thread.
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Int) -> Void) {
        forRanges(count, grain: grain) { range in
            for i in range { body(i) }
        }
    }

    /// How many workers `forWorkers` would use for `count` items.
    public static func workerCount(for count: Int) -> Int {
        isInsideChunk ? 1 : max(1, min(threadCount, count))
    }

    /// Splits `0..<count` into `min(workerCount(for: count), maxWorkers)` contiguous ranges and
    /// calls `body(worker, range)` for each, concurrently; `worker` indexes per-worker scratch space.
    public static func forWorkers(_ count: Int, maxWorkers: Int = .max,
                                  _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        guard count > 0 else { return }
        forChunks(count, chunks: min(workerCount(for: count), max(maxWorkers, 1)), body)
    }

    private static func forChunks(_ count: Int, chunks: Int, _ body: (Int, Range<Int>) -> Void) {
        if chunks <= 1 {
            body(0, 0..<count)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            let task = UncheckedSendable(escaping)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let lower = count * chunk / chunks
                let upper = count * (chunk + 1) / chunks
                guard lower < upper else { return }
                let outer = pthread_getspecific(chunkKey)
                pthread_setspecific(chunkKey, UnsafeRawPointer(bitPattern: 1))
                task.value(chunk, lower..<upper)
                pthread_setspecific(chunkKey, outer)
            }
        }
    }

    /// True on a thread that is running one chunk of a parallel loop.
    static var isInsideChunk: Bool { pthread_getspecific(chunkKey) != nil }

    private static let chunkKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
}

/// Carries a value the caller knows to be used safely across threads (disjoint writes).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
