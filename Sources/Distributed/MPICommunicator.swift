import CMPI
import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// The ranks of `MPI_COMM_WORLD`, through OpenMPI's C API. MPI counts are 32-bit, so
/// buffers longer than `Int32.max` elements go in several calls.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    public let localSize: Int
    /// Elements per MPI call: MPI counts are 32-bit. Lowered only to test the splitting.
    public var maxElementsPerCall = Int(Int32.max)
    private let world: MPI_Comm?
    private var nodeComm: MPI_Comm?

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Initialises MPI (once per process). The caller owns the communicator until `finalize()`.
    public init() throws {
        var provided: Int32 = 0
        let code = MPI_Init_thread(nil, nil, ddp_mpi_thread_funneled(), &provided)
        guard code == ddp_mpi_success() else { throw Failure(description: "MPI_Init_thread failed with code \(code)") }
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
        MPI_Comm_free(&nodeComm)
        MPI_Finalize()
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
            check(MPI_Allreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_float(), ddp_mpi_sum(), world), "MPI_Allreduce")
        }
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            check(MPI_Allreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_double(), ddp_mpi_sum(), world), "MPI_Allreduce")
        }
    }

    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            check(MPI_Allreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_double(), ddp_mpi_max(), world), "MPI_Allreduce")
        }
    }

    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) -> PendingCollective {
        let pending = Requests(owner: self)
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return pending }
        chunked(buffer.count) { offset, n in
            var request = ddp_mpi_request_null()
            check(MPI_Iallreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_float(), ddp_mpi_sum(), world, &request),
                  "MPI_Iallreduce")
            pending.requests.append(request)
        }
        return pending
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            check(MPI_Bcast(base + offset, n, ddp_mpi_byte(), Int32(root), world), "MPI_Bcast")
        }
    }

    public func allGather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
        precondition(receive.count == send.count * size, "allGather: receive buffer must hold size × send bytes")
        guard send.count > 0 else { return }
        precondition(send.count <= Int(Int32.max), "allGather: \(send.count) bytes is more than one MPI call carries")
        check(MPI_Allgather(send.baseAddress, Int32(send.count), ddp_mpi_byte(), receive.baseAddress, Int32(send.count),
                            ddp_mpi_byte(), world), "MPI_Allgather")
    }

    public func barrier() { check(MPI_Barrier(world), "MPI_Barrier") }

    public func abort(code: Int32) -> Never {
        System.flushOutput()
        MPI_Abort(world, code)
        exit(code)
    }

    final class Requests: PendingCollective {
        var requests: [MPI_Request?] = []
        let owner: MPICommunicator
        init(owner: MPICommunicator) { self.owner = owner }

        func test() -> Bool {
            guard !requests.isEmpty else { return true }
            var done: Int32 = 0
            owner.check(MPI_Testall(Int32(requests.count), &requests, &done, nil), "MPI_Testall")
            return done != 0
        }

        func wait() {
            guard !requests.isEmpty else { return }
            owner.check(MPI_Waitall(Int32(requests.count), &requests, nil), "MPI_Waitall")
            requests.removeAll()
        }
    }
}
