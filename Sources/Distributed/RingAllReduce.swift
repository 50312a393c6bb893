import CMPI
import Foundation
import Kernels

/// A bandwidth-optimal all-reduce of sums over non-blocking point-to-point messages: a
/// reduce-scatter around the ring of ranks, then an all-gather (Patarasuk and Yuan's ring, as
/// NCCL and Horovod run it). Each rank sends and receives 2(P−1)/P of the buffer, both directions
/// of every link busy at once. OpenMPI's non-blocking all-reduce (libnbc) picks a binomial tree
/// for fewer than 4 ranks, which sends the whole buffer up the tree and then down, one direction
/// at a time: twice the ring's time on a full-duplex link.
///
/// A state machine: each `poll` (from the progress thread or a waiting caller) tests the
/// current step's send and receive; when both are done it folds the received chunk in (during
/// the reduce-scatter) and posts the next step. Every chunk's final sum is made by one rank and
/// copied to the others, so all ranks end with the same bits.
final class RingAllReduce: PolledCollective, @unchecked Sendable {
    private unowned let owner: MPICommunicator
    private let comm: MPI_Comm?
    private let base: UnsafeMutableRawPointer
    private let element: RingElement
    private let count: Int, rank: Int, size: Int, tag: Int32
    /// The reduce-scatter's incoming chunk, borrowed from the communicator's pool until done.
    private var scratch: UnsafeMutableRawBufferPointer?
    /// 0 ..< 2(P−1): the first P−1 steps reduce-scatter, the rest all-gather.
    private var step = 0
    private var requests: [MPI_Request?] = []
    let operation: String
    private let stateLock = NSLock()
    private(set) var completedAt: Double?

    init(owner: MPICommunicator, comm: MPI_Comm?, buffer: UnsafeMutableRawBufferPointer, element: RingElement, rank: Int,
         size: Int, tag: Int32, operation: String) {
        self.owner = owner; self.comm = comm; self.base = buffer.baseAddress!; self.element = element
        self.count = buffer.count / element.stride
        self.rank = rank; self.size = size; self.tag = tag; self.operation = operation
        let largest = (0..<size).map { Self.bounds($0, count: count, size: size).count }.max() ?? 0
        scratch = owner.borrowRingScratch(bytes: max(largest, 1) * element.stride)
        post()
    }

    deinit {
        if let scratch { owner.returnRingScratch(scratch) }
    }

    /// Chunk `index`'s range: P nearly equal parts.
    static func bounds(_ index: Int, count: Int, size: Int) -> Range<Int> {
        (index * count / size)..<((index + 1) * count / size)
    }

    private func chunk(_ index: Int) -> Range<Int> { Self.bounds(((index % size) + size) % size, count: count, size: size) }

    /// Posts this step's send to the right neighbour and receive from the left one.
    private func post() {
        let right = Int32((rank + 1) % size), left = Int32((rank - 1 + size) % size)
        let reducing = step < size - 1
        let s = reducing ? step : step - (size - 1)
        let send = reducing ? chunk(rank - s) : chunk(rank + 1 - s)
        let receive = reducing ? chunk(rank - s - 1) : chunk(rank - s)
        let into = reducing ? scratch!.baseAddress! : base + receive.lowerBound * element.stride
        var sendRequest = ddp_mpi_request_null(), receiveRequest = ddp_mpi_request_null()
        let type = element.mpiType
        let code = owner.mpi { () -> Int32 in
            let r = MPI_Irecv(into, Int32(receive.count), type, left, tag, comm, &receiveRequest)
            guard r == ddp_mpi_success() else { return r }
            return MPI_Isend(base + send.lowerBound * element.stride, Int32(send.count), type, right, tag, comm, &sendRequest)
        }
        owner.check(code, "ring all-reduce step \(step + 1)")
        requests = [receiveRequest, sendRequest]
    }

    /// One test of the current step; advances as far as the messages allow. True once done.
    func poll() -> Bool {
        stateLock.lock()
        defer { stateLock.unlock() }
        while completedAt == nil {
            var done: Int32 = 0
            let code = owner.mpi { MPI_Testall(Int32(requests.count), &requests, &done, nil) }
            owner.check(code, "ring all-reduce step \(step + 1)")
            guard done != 0 else { return false }
            if step < size - 1 {  // fold the received chunk into ours
                let range = chunk(rank - step - 1)
                element.fold(into: base + range.lowerBound * element.stride, from: scratch!.baseAddress!, count: range.count)
            }
            step += 1
            if step == 2 * (size - 1) {
                completedAt = System.now()
                owner.returnRingScratch(scratch!)
                scratch = nil
            } else {
                post()
            }
        }
        return true
    }

    func test() -> Bool { poll() }

    func wait() { owner.waitWatched(operation) { self.poll() } }
}

/// What a ring all-reduce carries and how a received partial sum folds into a rank's own.
enum RingElement {
    case float32
    /// bf16 words (gradient compression): each pair added in float32, the sum rounded back to
    /// bf16, as the bf16 MPI operation does.
    case bf16

    var stride: Int { self == .float32 ? MemoryLayout<Float>.stride : MemoryLayout<UInt16>.stride }

    var mpiType: MPI_Datatype? { self == .float32 ? ddp_mpi_float() : ddp_mpi_uint16() }

    func fold(into target: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int) {
        switch self {
        case .float32:
            let t = target.assumingMemoryBound(to: Float.self), s = source.assumingMemoryBound(to: Float.self)
            for i in 0..<count { t[i] += s[i] }
        case .bf16:
            BFloat16.add(source.assumingMemoryBound(to: UInt16.self), into: target.assumingMemoryBound(to: UInt16.self), count: count)
        }
    }
}

/// A non-blocking collective the progress thread moves along by polling.
protocol PolledCollective: PendingCollective {
    /// True once complete; each call lets MPI progress.
    func poll() -> Bool
}
