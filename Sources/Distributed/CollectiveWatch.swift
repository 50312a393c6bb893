import CMPI
import Foundation
import Kernels

/// Bounds the time any collective may take. Every collective is started non-blocking and
/// polled; at half the timeout the rank warns, at the timeout it names the operation, the
/// step and the ranks that have not arrived, and ends the job, so a frozen rank or a cut link
/// never leaves the others waiting.
///
/// Who has arrived: entering collective number n, every rank sends n to rank 0 and rank 0 sends
/// it to every rank (a few bytes each, eagerly delivered), and again every second while it
/// waits. Rank 0 so knows every rank's last collective and when it last heard from it (a rank
/// frozen inside a collective it had entered falls silent), and every other rank knows the same
/// of rank 0.
final class CollectiveWatch: @unchecked Sendable {
    static let arrivalTag: Int32 = 7301

    /// Seconds a collective may take (config `collective_timeout`).
    var timeout: Double
    /// What the job is doing, for the messages ("step 120").
    var context = "start-up"
    private(set) var sequence: Int64 = 0
    /// The latest collective each rank is known to have entered, and when it was last heard from.
    private var arrived: [Int64]
    private var lastHeard: [Double]
    /// Seconds without a word after which a rank that had entered the collective counts as frozen.
    static let silence = 5.0
    private var sends: [(request: MPI_Request?, buffer: UnsafeMutablePointer<Int64>)] = []
    private let rank: Int, size: Int
    private let world: MPI_Comm?

    init(rank: Int, size: Int, world: MPI_Comm?, timeout: Double) {
        self.rank = rank; self.size = size; self.world = world; self.timeout = timeout
        arrived = [Int64](repeating: 0, count: size)
        lastHeard = [Double](repeating: System.now(), count: size)
    }

    deinit { for send in sends { send.buffer.deallocate() } }

    /// Called (under the MPI lock) as this rank enters a collective: announces it, and takes
    /// in the announcements that came since.
    func enter() {
        sequence += 1
        announce()
    }

    /// Tells the peers (rank 0, or rank 0 all others) this rank is at the current collective.
    func announce() {
        arrived[rank] = sequence
        guard size > 1 else { return }
        retireSends()
        let peers = rank == 0 ? Array(1..<size) : [0]
        for peer in peers {
            let buffer = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
            buffer.pointee = sequence
            var request = ddp_mpi_request_null()
            MPI_Isend(buffer, 1, ddp_mpi_long_long(), Int32(peer), Self.arrivalTag, world, &request)
            sends.append((request, buffer))
        }
        drainArrivals()
    }

    /// Before MPI_Finalize: takes in what arrived and lets go of the announcements still in flight.
    func finish() {
        drainArrivals()
        retireSends()
        for var send in sends {
            MPI_Cancel(&send.request)
            MPI_Request_free(&send.request)
        }
        sends.removeAll()
    }

    private func retireSends() {
        var kept: [(request: MPI_Request?, buffer: UnsafeMutablePointer<Int64>)] = []
        for var send in sends {
            var done: Int32 = 0
            MPI_Test(&send.request, &done, ddp_mpi_status_ignore())
            if done != 0 { send.buffer.deallocate() } else { kept.append(send) }
        }
        sends = kept
    }

    /// Receives every arrival announcement already here.
    func drainArrivals() {
        while true {
            var flag: Int32 = 0
            var status = MPI_Status()
            MPI_Iprobe(ddp_mpi_any_source(), Self.arrivalTag, world, &flag, &status)
            guard flag != 0 else { return }
            var value: Int64 = 0
            MPI_Recv(&value, 1, ddp_mpi_long_long(), status.MPI_SOURCE, Self.arrivalTag, world, ddp_mpi_status_ignore())
            let source = Int(status.MPI_SOURCE)
            if source >= 0 && source < size {
                arrived[source] = max(arrived[source], value)
                lastHeard[source] = System.now()
            }
        }
    }

    /// What this rank can tell about the others: those that have not entered the current
    /// collective, and those that had but have been silent for `silence` seconds (frozen).
    /// Rank 0 knows this of every rank; the others only of rank 0.
    func stalledRanks() -> (notArrived: [Int], silent: [Int]) {
        drainArrivals()
        let now = System.now()
        let watched = rank == 0 ? Array(1..<max(size, 1)) : [0]
        let notArrived = watched.filter { arrived[$0] < sequence }
        let silent = watched.filter { arrived[$0] >= sequence && now - lastHeard[$0] > Self.silence }
        return (notArrived, silent)
    }

    func describe(_ operation: String, waited: Double) -> String {
        func ranks(_ list: [Int]) -> String { "rank\(list.count > 1 ? "s" : "") \(list.map(String.init).joined(separator: ", "))" }
        let (notArrived, silent) = stalledRanks()
        var parts: [String] = []
        if !notArrived.isEmpty { parts.append("\(ranks(notArrived)) \(notArrived.count > 1 ? "have" : "has") not arrived") }
        if !silent.isEmpty {
            parts.append("\(ranks(silent)) entered it but \(silent.count > 1 ? "have" : "has") not answered for over \(Int(Self.silence)) s (frozen?)")
        }
        if parts.isEmpty {
            parts.append(rank == 0 ? "every rank is here and answering: the data is stuck between them (a slow or cut link?)"
                                   : "rank 0 is here and answering, and names the ranks that are not")
        }
        return "\(operation) at \(context) (collective #\(sequence)) has waited \(Int(waited)) s: \(parts.joined(separator: "; "))"
    }
}
