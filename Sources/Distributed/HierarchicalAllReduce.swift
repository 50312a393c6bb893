import CMPI
import Foundation
import Kernels

/// The communicators of a hierarchical all-reduce: each host's ranks (twice, so reductions and
/// broadcasts keep an order of their own), and the first rank of every host.
struct HostHierarchy {
    let reduceComm: MPI_Comm?, broadcastComm: MPI_Comm?
    /// Only on each host's first rank.
    let leaderComm: MPI_Comm?
    let isLeader: Bool
    /// Ranks on this host.
    let hostSize: Int
    /// This host's index among the hosts, and how many hosts there are.
    let host: Int, hosts: Int
}

/// Sums a buffer over every rank in three stages when several ranks share a host: the host's
/// ranks reduce into its first rank (without touching the network), the first ranks of all hosts
/// all-reduce around a ring over the network, and each first rank broadcasts the result to its
/// host. The network carries each host's sum once instead of every rank's: in a flat ring over
/// 2 hosts × 2 ranks each host link carries 1.5× the buffer each way, here 1× (Horovod's
/// `HOROVOD_HIERARCHICAL_ALLREDUCE`).
///
/// All ranks of a communicator must start its collectives in the same order, so a started
/// all-reduce moves to its next stage only once the one started before it is there (they share
/// `order`); the ring's tags then match on every host too.
final class HierarchicalAllReduce: PolledCollective, @unchecked Sendable {
    enum Stage: Int { case reducing, crossing, broadcasting, done }

    private unowned let owner: MPICommunicator
    private let hierarchy: HostHierarchy
    private let buffer: UnsafeMutableRawBufferPointer
    private let element: RingElement
    private let count: Int32
    private let reduceOperation: MPI_Op?
    let operation: String
    /// Guards every hierarchical all-reduce's stage (they look at each other's).
    private let order: NSLock
    private var previous: HierarchicalAllReduce?
    private(set) var stage = Stage.reducing
    private var request: MPI_Request?
    private var ring: RingAllReduce?
    private let nextTag: () -> Int32
    private(set) var completedAt: Double?

    init(owner: MPICommunicator, hierarchy: HostHierarchy, buffer: UnsafeMutableRawBufferPointer, element: RingElement,
         reduceOperation: MPI_Op?, previous: HierarchicalAllReduce?, order: NSLock, nextTag: @escaping () -> Int32,
         operation: String) {
        self.owner = owner; self.hierarchy = hierarchy; self.buffer = buffer; self.element = element
        self.count = Int32(buffer.count / element.stride); self.reduceOperation = reduceOperation
        self.previous = previous; self.order = order; self.nextTag = nextTag; self.operation = operation
        var request = ddp_mpi_request_null()
        let base = buffer.baseAddress!, type = element.mpiType, count = self.count
        let code = owner.mpi { () -> Int32 in
            hierarchy.isLeader
                ? MPI_Ireduce(ddp_mpi_in_place(), base, count, type, reduceOperation, 0, hierarchy.reduceComm, &request)
                : MPI_Ireduce(base, nil, count, type, reduceOperation, 0, hierarchy.reduceComm, &request)
        }
        owner.check(code, "reduction within the host")
        self.request = request
    }

    /// Whether the all-reduce started before this one has reached `stage` (or there is none).
    private func previousReached(_ stage: Stage) -> Bool {
        guard let previous else { return true }
        if previous.stage == .done { self.previous = nil; return true }
        return previous.stage.rawValue >= stage.rawValue
    }

    private func testRequest(_ what: String) -> Bool {
        var done: Int32 = 0
        let code = owner.mpi { MPI_Test(&request, &done, ddp_mpi_status_ignore()) }
        owner.check(code, what)
        return done != 0
    }

    private func postBroadcast() {
        var request = ddp_mpi_request_null()
        let base = buffer.baseAddress!, type = element.mpiType, count = self.count, comm = hierarchy.broadcastComm
        owner.check(owner.mpi { MPI_Ibcast(base, count, type, 0, comm, &request) }, "broadcast within the host")
        self.request = request
        stage = .broadcasting
    }

    /// Advances as far as the messages and the order allow. True once done.
    func poll() -> Bool {
        order.lock()
        defer { order.unlock() }
        while true {
            switch stage {
            case .reducing:
                guard testRequest("reduction within the host") else { return false }
                if hierarchy.isLeader && hierarchy.hosts > 1 {
                    guard previousReached(.crossing) else { return false }
                    ring = RingAllReduce(owner: owner, comm: hierarchy.leaderComm, buffer: buffer, element: element,
                                         rank: hierarchy.host, size: hierarchy.hosts, tag: nextTag(), operation: operation)
                    stage = .crossing
                } else {
                    guard previousReached(.broadcasting) else { return false }
                    postBroadcast()
                }
            case .crossing:
                guard ring!.poll(), previousReached(.broadcasting) else { return false }
                ring = nil
                postBroadcast()
            case .broadcasting:
                guard testRequest("broadcast within the host") else { return false }
                stage = .done
                completedAt = System.now()
                previous = nil
            case .done:
                return true
            }
        }
    }

    func test() -> Bool { poll() }

    func wait() { owner.waitWatched(operation) { self.poll() } }
}
