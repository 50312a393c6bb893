import Kernels

/// What the data-parallel layer needs from the ranks: their identity, collectives on
/// buffers, and non-blocking all-reduce that overlaps with backward. Two implementations:
/// `MPICommunicator` (OpenMPI through its C API) and `SingleProcessCommunicator` (world
/// size 1, so everything — tests included — runs without `mpirun`).
/// Seconds any collective may take before the job ends (`--collective-timeout`'s default).
public let defaultCollectiveTimeout = 300.0

public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Rank among the processes on this node, and how many there are.
    var localRank: Int { get }
    var localSize: Int { get }

    /// In place: every element becomes its sum over all ranks.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// In place: every element becomes its maximum over all ranks.
    func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// Starts an in-place sum; the buffer must stay untouched until the request completes.
    func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) -> PendingCollective
    /// The same on bf16 values (bit patterns): half the bytes on the wire; each partial sum is
    /// taken in float32 and rounded back to bf16.
    func startAllReduceSumBF16(_ buffer: UnsafeMutableBufferPointer<UInt16>) -> PendingCollective
    /// Copies `root`'s bytes into every other rank's buffer.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int)
    /// Each rank sends `send.count` bytes; `receive` gets every rank's bytes in rank order.
    func allGather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer)
    func barrier()
    /// Ends every rank's process (after an error on one rank, so that none waits forever).
    func abort(code: Int32) -> Never
    /// Seconds any collective may take before the job ends, naming it and the ranks missing.
    var collectiveTimeout: Double { get set }
    /// How large all-reduces travel, for the start-up lines ("ring from 1 MiB").
    var allReduceRoute: String { get }
    /// Where the job is ("step 120"), for that message.
    var progressContext: String { get set }
    /// The name of the collectives being started ("gradient all-reduce"), for that message.
    var currentOperation: String? { get set }
}

/// A collective in flight.
public protocol PendingCollective: AnyObject {
    /// True once the result is in the buffer; lets MPI make progress meanwhile.
    func test() -> Bool
    /// Blocks until the result is in the buffer.
    func wait()
    /// When the collective was seen complete (`System.now()`), nil before.
    var completedAt: Double? { get }
}

extension Communicator {
    /// Communicators of tests and one process: nothing to tell.
    public var allReduceRoute: String { "MPI's" }

    /// Runs `body` with its collectives called `name` in timeout messages.
    public func during<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let saved = currentOperation
        currentOperation = name
        defer { currentOperation = saved }
        return try body()
    }

    /// In place: every element becomes its mean over all ranks.
    public func allReduceAverage(_ buffer: UnsafeMutableBufferPointer<Float>) {
        allReduceSum(buffer)
        guard size > 1 else { return }
        let scale = 1 / Float(size)
        for i in buffer.indices { buffer[i] *= scale }
    }

    /// Convenience for arrays.
    public func allReduceSum(_ values: inout [Double]) {
        values.withUnsafeMutableBufferPointer { allReduceSum($0) }
    }

    public func allReduceMax(_ values: inout [Double]) {
        values.withUnsafeMutableBufferPointer { allReduceMax($0) }
    }

    /// Every rank's bytes, in rank order.
    public func allGather(_ bytes: [UInt8]) -> [[UInt8]] {
        var lengths = [Double](repeating: 0, count: size)
        lengths[rank] = Double(bytes.count)
        allReduceSum(&lengths)
        let longest = Int(lengths.max() ?? 0)
        var padded = bytes + [UInt8](repeating: 0, count: longest - bytes.count)
        var all = [UInt8](repeating: 0, count: longest * size)
        padded.withUnsafeMutableBytes { send in
            all.withUnsafeMutableBytes { receive in allGather(UnsafeRawBufferPointer(send), into: receive) }
        }
        return (0..<size).map { r in Array(all[(r * longest)..<(r * longest + Int(lengths[r]))]) }
    }
}

/// World size 1: every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localRank: Int { 0 }
    public var localSize: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) -> PendingCollective { Completed() }
    public func startAllReduceSumBF16(_ buffer: UnsafeMutableBufferPointer<UInt16>) -> PendingCollective { Completed() }
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {}
    public func allGather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
        receive.copyMemory(from: send)
    }
    public func barrier() {}
    public var collectiveTimeout = defaultCollectiveTimeout
    public var allReduceRoute: String { "none (one process)" }
    public var progressContext = ""
    public var currentOperation: String?
    public func abort(code: Int32) -> Never { exit(code) }

    final class Completed: PendingCollective {
        let completedAt: Double? = System.now()
        func test() -> Bool { true }
        func wait() {}
    }
}

#if canImport(Glibc)
import Glibc
#endif
