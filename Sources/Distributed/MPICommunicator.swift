import CMPI
import Foundation
import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// The ranks of `MPI_COMM_WORLD`, through OpenMPI's C API. MPI counts are 32-bit, so
/// buffers longer than `Int32.max` elements go in several calls.
///
/// Non-blocking all-reduces advance only while some thread is inside MPI, so a progress thread
/// polls the ones in flight while backward computes; every MPI call goes through one lock.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    public let localSize: Int
    /// Elements per MPI call: MPI counts are 32-bit. Lowered only to test the splitting.
    public var maxElementsPerCall = Int(Int32.max)
    private let world: MPI_Comm?
    private var nodeComm: MPI_Comm?
    /// Serialises every MPI call (MPI_THREAD_SERIALIZED).
    private let mpiLock = NSLock()
    /// Requests the progress thread polls, and its state.
    private let progressCondition = NSCondition()
    private var inFlight: [Requests] = []
    private var progressRunning = false
    private var progressThread: Thread?
    private let progressAvailable: Bool

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Initialises MPI (once per process). The caller owns the communicator until `finalize()`.
    public init() throws {
        var provided: Int32 = 0
        let code = MPI_Init_thread(nil, nil, ddp_mpi_thread_serialized(), &provided)
        guard code == ddp_mpi_success() else { throw Failure(description: "MPI_Init_thread failed with code \(code)") }
        progressAvailable = provided >= ddp_mpi_thread_serialized()
        world = ddp_mpi_comm_world()
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &s)
        rank = Int(r); size = Int(s)
        nodeComm = ddp_mpi_comm_null()
        MPI_Comm_split_type(world, ddp_mpi_comm_type_shared(), r, ddp_mpi_info_null(), &nodeComm)
        var lr: Int32 = 0, ls: Int32 = 1
        MPI_Comm_rank(nodeComm, &lr)
        MPI_Comm_size(nodeComm, &ls)
        localRank = Int(lr); localSize = Int(ls)
    }

    /// True when this process was started by `mpirun` (OpenMPI or a PMI launcher).
    public static var isLaunchedByMPI: Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains { System.environment($0) != nil }
    }

    public func finalize() {
        stopProgressThread()
        MPI_Comm_free(&nodeComm)
        MPI_Finalize()
    }

    /// Runs an MPI call under the lock.
    @inline(__always)
    private func mpi<T>(_ body: () -> T) -> T {
        mpiLock.lock()
        defer { mpiLock.unlock() }
        return body()
    }

    private func startProgressThreadIfNeeded() {
        guard progressAvailable, progressThread == nil else { return }
        progressRunning = true
        let thread = Thread { [unowned self] in self.pollInFlight() }
        thread.name = "ddptrain-mpi-progress"
        progressThread = thread
        thread.start()
    }

    private func stopProgressThread() {
        guard progressThread != nil else { return }
        progressCondition.lock()
        progressRunning = false
        progressCondition.broadcast()
        progressCondition.unlock()
        while progressThread?.isFinished == false { usleep(100) }
        progressThread = nil
    }

    /// While requests are in flight, test them every 100 µs; otherwise sleep until one starts.
    private func pollInFlight() {
        while true {
            progressCondition.lock()
            while progressRunning && inFlight.isEmpty { progressCondition.wait() }
            if !progressRunning {
                progressCondition.unlock()
                return
            }
            let current = inFlight
            progressCondition.unlock()
            var finished: [ObjectIdentifier] = []
            for requests in current where requests.poll() { finished.append(ObjectIdentifier(requests)) }
            if !finished.isEmpty {
                progressCondition.lock()
                inFlight.removeAll { finished.contains(ObjectIdentifier($0)) }
                progressCondition.unlock()
            }
            usleep(100)
        }
    }

    private func track(_ requests: Requests) {
        guard progressAvailable else { return }
        startProgressThreadIfNeeded()
        progressCondition.lock()
        inFlight.append(requests)
        progressCondition.signal()
        progressCondition.unlock()
    }

    private func check(_ code: Int32, _ what: String) {
        if code != ddp_mpi_success() {
            System.printError("ddptrain: rank \(rank): \(what) failed with MPI error \(code); stopping every rank")
            MPI_Abort(world, 1)
        }
    }

    /// Runs `body` over chunks of at most `maxElementsPerCall` elements.
    private func chunked(_ count: Int, _ body: (Int, Int32) -> Void) {
        var offset = 0
        repeat {
            let n = min(count - offset, max(1, min(maxElementsPerCall, Int(Int32.max))))
            body(offset, Int32(n))
            offset += n
        } while offset < count
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            check(mpi { MPI_Allreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_float(), ddp_mpi_sum(), world) }, "MPI_Allreduce")
        }
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            check(mpi { MPI_Allreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_double(), ddp_mpi_sum(), world) }, "MPI_Allreduce")
        }
    }

    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            check(mpi { MPI_Allreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_double(), ddp_mpi_max(), world) }, "MPI_Allreduce")
        }
    }

    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) -> PendingCollective {
        let pending = Requests(owner: self)
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return pending }
        chunked(buffer.count) { offset, n in
            var request = ddp_mpi_request_null()
            check(mpi { MPI_Iallreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_float(), ddp_mpi_sum(), world, &request) },
                  "MPI_Iallreduce")
            pending.requests.append(request)
        }
        track(pending)
        return pending
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            check(mpi { MPI_Bcast(base + offset, n, ddp_mpi_byte(), Int32(root), world) }, "MPI_Bcast")
        }
    }

    public func allGather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
        precondition(receive.count == send.count * size, "allGather: receive buffer must hold size × send bytes")
        guard send.count > 0 else { return }
        precondition(send.count <= Int(Int32.max), "allGather: \(send.count) bytes is more than one MPI call carries")
        check(mpi { MPI_Allgather(send.baseAddress, Int32(send.count), ddp_mpi_byte(), receive.baseAddress, Int32(send.count),
                                  ddp_mpi_byte(), world) }, "MPI_Allgather")
    }

    public func barrier() { check(mpi { MPI_Barrier(world) }, "MPI_Barrier") }

    public func abort(code: Int32) -> Never {
        System.flushOutput()
        MPI_Abort(world, code)
        exit(code)
    }

    final class Requests: PendingCollective, @unchecked Sendable {
        var requests: [MPI_Request?] = []
        let owner: MPICommunicator
        private let stateLock = NSLock()
        private var completed = false
        init(owner: MPICommunicator) { self.owner = owner }

        /// One MPI_Testall (from either thread); true once everything has arrived.
        func poll() -> Bool {
            stateLock.lock()
            defer { stateLock.unlock() }
            if completed || requests.isEmpty { return true }
            var done: Int32 = 0
            let code = owner.mpi { MPI_Testall(Int32(requests.count), &requests, &done, nil) }
            owner.check(code, "MPI_Testall")
            if done != 0 { completed = true }
            return completed
        }

        func test() -> Bool { poll() }

        func wait() {
            stateLock.lock()
            defer { stateLock.unlock() }
            if completed || requests.isEmpty { return }
            owner.check(owner.mpi { MPI_Waitall(Int32(requests.count), &requests, nil) }, "MPI_Waitall")
            completed = true
        }
    }
}
