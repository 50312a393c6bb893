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
    /// The ring all-reduce's own messages, apart from every other point-to-point message.
    private var ringComm: MPI_Comm?
    private var ringTag: Int32 = 0
    /// Set when all-reduces go hierarchically (`DDPTRAIN_HIERARCHICAL_ALLREDUCE=1`).
    private var hierarchy: HostHierarchy?
    private var lastHierarchical: HierarchicalAllReduce?
    private let hierarchicalOrder = NSLock()
    private var leaderTag: Int32 = 0
    /// Idle scratch buffers of finished rings (`borrowRingScratch`).
    private var ringScratch: [UnsafeMutableRawBufferPointer] = []
    private let scratchLock = NSLock()
    /// All-reduces (float32 or bf16) from this size on go around the ring (`RingAllReduce`), or
    /// through the hierarchy when it is on; smaller ones, where latency rules, through MPI's own.
    /// 0 turns both off (`DDPTRAIN_RING_BYTES`).
    public var ringMinimumBytes = 1 << 20
    /// Serialises every MPI call (MPI_THREAD_SERIALIZED).
    private let mpiLock = NSLock()
    /// Requests the progress thread polls, and its state.
    private let progressCondition = NSCondition()
    private var inFlight: [any PolledCollective] = []
    private var progressRunning = false
    private var progressThread: Thread?
    private let progressAvailable: Bool
    /// Bounds every collective's time (`collectiveTimeout`), knows who has arrived.
    private let watch: CollectiveWatch
    public var currentOperation: String?

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
        // Errors come back to our code, which names the operation, instead of MPI's handler aborting.
        MPI_Comm_set_errhandler(world, ddp_mpi_errors_return())
        ringComm = ddp_mpi_comm_null()
        MPI_Comm_dup(world, &ringComm)
        MPI_Comm_set_errhandler(ringComm, ddp_mpi_errors_return())
        if let bytes = EnvironmentSetting.ringBytes.integer { ringMinimumBytes = bytes }
        watch = CollectiveWatch(rank: rank, size: size, world: world, timeout: defaultCollectiveTimeout)
        if EnvironmentSetting.hierarchicalAllReduce.isOn {
            hierarchy = Self.makeHierarchy(world: world, nodeComm: nodeComm, rank: r,
                                           ranksPerHost: EnvironmentSetting.ranksPerHost.integer.map(Int32.init))
        }
    }

    /// The communicators of the hierarchical all-reduce, made by every rank at once. Hosts are
    /// the ranks MPI finds sharing memory, or blocks of `ranksPerHost` consecutive ranks (to run
    /// the hierarchy's every stage on one machine).
    private static func makeHierarchy(world: MPI_Comm?, nodeComm: MPI_Comm?, rank: Int32, ranksPerHost: Int32?) -> HostHierarchy {
        var host = nodeComm
        if let ranksPerHost, ranksPerHost > 0 {
            host = ddp_mpi_comm_null()
            MPI_Comm_split(world, rank / ranksPerHost, rank, &host)
        }
        var localRank: Int32 = 0, hostSize: Int32 = 1
        MPI_Comm_rank(host, &localRank)
        MPI_Comm_size(host, &hostSize)
        var reduceComm = ddp_mpi_comm_null(), broadcastComm = ddp_mpi_comm_null(), leaderComm = ddp_mpi_comm_null()
        MPI_Comm_dup(host, &reduceComm)
        MPI_Comm_dup(host, &broadcastComm)
        MPI_Comm_split(world, localRank == 0 ? 0 : ddp_mpi_undefined(), rank, &leaderComm)
        if host != nodeComm { MPI_Comm_free(&host) }
        var hostIndex: Int32 = 0, hosts: Int32 = 1
        if localRank == 0 {
            MPI_Comm_rank(leaderComm, &hostIndex)
            MPI_Comm_size(leaderComm, &hosts)
        }
        MPI_Comm_set_errhandler(reduceComm, ddp_mpi_errors_return())
        MPI_Comm_set_errhandler(broadcastComm, ddp_mpi_errors_return())
        if localRank == 0 { MPI_Comm_set_errhandler(leaderComm, ddp_mpi_errors_return()) }
        return HostHierarchy(reduceComm: reduceComm, broadcastComm: broadcastComm, leaderComm: leaderComm, isLeader: localRank == 0,
                             hostSize: Int(hostSize), host: Int(hostIndex), hosts: Int(hosts))
    }

    public var allReduceRoute: String {
        guard ringMinimumBytes > 0 else { return "MPI's" }
        let from = ringMinimumBytes % 1_048_576 == 0 ? "\(ringMinimumBytes / 1_048_576) MiB" : "\(ringMinimumBytes) bytes"
        if let hierarchy { return "hierarchical from \(from) (\(hierarchy.hostSize) ranks on this host), MPI's below" }
        return "ring from \(from), MPI's below"
    }

    /// Seconds any collective may take before every rank that can still act names it and the
    /// job ends (config `collective_timeout`).
    public var collectiveTimeout: Double {
        get { watch.timeout }
        set { watch.timeout = newValue }
    }

    /// What the job is doing, for the timeout's message ("step 120").
    public var progressContext: String {
        get { watch.context }
        set { watch.context = newValue }
    }

    /// True when this process was started by `mpirun` (OpenMPI or a PMI launcher).
    public static var isLaunchedByMPI: Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains { System.environment($0) != nil }
    }

    public func finalize() {
        stopProgressThread()
        mpi { watch.finish() }
        MPI_Comm_free(&nodeComm)
        MPI_Comm_free(&ringComm)
        if let hierarchy {
            var comms = [hierarchy.reduceComm, hierarchy.broadcastComm] + (hierarchy.isLeader ? [hierarchy.leaderComm] : [])
            for i in comms.indices { MPI_Comm_free(&comms[i]) }
        }
        MPI_Finalize()
        scratchLock.lock()
        for buffer in ringScratch { buffer.deallocate() }
        ringScratch.removeAll()
        scratchLock.unlock()
    }

    /// Runs an MPI call under the lock.
    @inline(__always)
    func mpi<T>(_ body: () -> T) -> T {
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

    private func track(_ requests: any PolledCollective) {
        guard progressAvailable else { return }
        startProgressThreadIfNeeded()
        progressCondition.lock()
        inFlight.append(requests)
        progressCondition.signal()
        progressCondition.unlock()
    }

    func check(_ code: Int32, _ what: String) {
        guard code != ddp_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(ddp_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        System.printError("ddptrain[rank \(rank)]: error: \(currentOperation.map { "\($0): " } ?? "")\(what) failed at "
                          + "\(watch.context): \(message) (MPI error \(code)); stopping every rank")
        System.flushOutput()
        MPI_Abort(world, 1)
    }

    /// Starts one collective (announcing it to the watch) and waits for it within the timeout.
    private func collective(_ what: String, _ start: (inout MPI_Request?) -> Int32) {
        var request = ddp_mpi_request_null()
        let code = mpi { () -> Int32 in
            watch.enter()
            return start(&request)
        }
        check(code, what)
        var requests: [MPI_Request?] = [request]
        waitWatched(&requests, what)
    }

    /// Polls `requests` until they complete: spinning for the first few hundred microseconds
    /// (small collectives finish there), then every 50 µs. Warns at half the timeout; at the
    /// timeout reports and ends the job.
    fileprivate func waitWatched(_ requests: inout [MPI_Request?], _ what: String) {
        waitWatched(what) {
            var done: Int32 = 0
            let code = mpi { MPI_Testall(Int32(requests.count), &requests, &done, nil) }
            check(code, what)
            return done != 0
        }
    }

    /// Polls until `isDone`, within the timeout (as above).
    func waitWatched(_ what: String, isDone: () -> Bool) {
        let start = System.now()
        var warned = false, polls = 0, lastAnnounced = start
        while true {
            if isDone() { return }
            polls += 1
            if polls < 2000 { continue }
            let now = System.now(), waited = now - start
            if now - lastAnnounced >= 1 {
                // Still here: what lets rank 0 tell a waiting rank from a frozen one.
                mpi { watch.announce() }
                lastAnnounced = now
            }
            if !warned && waited >= watch.timeout / 2 {
                warned = true
                let text = mpi { watch.describe(currentOperation ?? what, waited: waited) }
                System.printError("ddptrain[rank \(rank)]: warning: \(text); the job ends at \(Int(watch.timeout)) s "
                                  + "(--collective-timeout)")
            }
            if waited >= watch.timeout { timedOut(what, waited: waited) }
            usleep(50)
        }
    }

    private func timedOut(_ what: String, waited: Double) -> Never {
        let text = mpi { watch.describe(currentOperation ?? what, waited: waited) }
        System.printError("ddptrain[rank \(rank)]: error: collective timeout: \(text); ending the job "
                          + "(checkpoints already written stay valid: continue with --resume auto)")
        System.flushOutput()
        // The other ranks waiting in the same collective time out within moments: let them say so
        // too. Then leave: mpirun ends the whole job when a rank exits non-zero without finalizing,
        // the frozen ranks included (MPI_Abort would only add a page of OpenMPI's help text).
        sleep(2)
        exit(1)
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
            collective("MPI_Allreduce") { MPI_Iallreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_float(), ddp_mpi_sum(), world, &$0) }
        }
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            collective("MPI_Allreduce") { MPI_Iallreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_double(), ddp_mpi_sum(), world, &$0) }
        }
    }

    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            collective("MPI_Allreduce") { MPI_Iallreduce(ddp_mpi_in_place(), base + offset, n, ddp_mpi_double(), ddp_mpi_max(), world, &$0) }
        }
    }

    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) -> PendingCollective {
        if let ring = startRing(UnsafeMutableRawBufferPointer(buffer), element: .float32) { return ring }
        return startAllReduce(UnsafeMutableRawBufferPointer(buffer), stride: MemoryLayout<Float>.stride, type: ddp_mpi_float(),
                       op: ddp_mpi_sum(), what: "MPI_Iallreduce")
    }

    public func startAllReduceSumBF16(_ buffer: UnsafeMutableBufferPointer<UInt16>) -> PendingCollective {
        if let ring = startRing(UnsafeMutableRawBufferPointer(buffer), element: .bf16) { return ring }
        return startAllReduce(UnsafeMutableRawBufferPointer(buffer), stride: MemoryLayout<UInt16>.stride, type: ddp_mpi_uint16(),
                       op: bf16Sum, what: "MPI_Iallreduce (bf16)")
    }

    /// Starts `buffer`'s all-reduce around the ring, or hierarchically when that is on, when it is
    /// large enough to be bandwidth-bound (`ringMinimumBytes`); else nil.
    private func startRing(_ buffer: UnsafeMutableRawBufferPointer, element: RingElement) -> PolledCollective? {
        let count = buffer.count / element.stride
        guard size > 1, ringMinimumBytes > 0, buffer.count >= ringMinimumBytes, count / size < Int(Int32.max) - 1 else { return nil }
        if let hierarchy, count < Int(Int32.max) {
            mpi { watch.enter() }
            let collective = HierarchicalAllReduce(
                owner: self, hierarchy: hierarchy, buffer: buffer, element: element,
                reduceOperation: element == .float32 ? ddp_mpi_sum() : bf16Sum, previous: lastHierarchical, order: hierarchicalOrder,
                nextTag: { [unowned self] in self.leaderTag = self.leaderTag % 30_000 + 1; return self.leaderTag },
                operation: currentOperation ?? "hierarchical all-reduce")
            lastHierarchical = collective
            track(collective)
            return collective
        }
        ringTag = ringTag % 30_000 + 1
        let tag = ringTag
        mpi { watch.enter() }
        let ring = RingAllReduce(owner: self, comm: ringComm, buffer: buffer, element: element, rank: rank, size: size, tag: tag,
                                 operation: currentOperation ?? "ring all-reduce")
        track(ring)
        return ring
    }

    /// A scratch buffer of at least `bytes` for a ring's incoming chunks, kept across steps
    /// (one per ring in flight) so no step allocates.
    func borrowRingScratch(bytes: Int) -> UnsafeMutableRawBufferPointer {
        scratchLock.lock()
        defer { scratchLock.unlock() }
        if let index = ringScratch.firstIndex(where: { $0.count >= bytes }) { return ringScratch.remove(at: index) }
        return .allocate(byteCount: bytes, alignment: 64)
    }

    func returnRingScratch(_ buffer: UnsafeMutableRawBufferPointer) {
        scratchLock.lock()
        defer { scratchLock.unlock() }
        ringScratch.append(buffer)
    }

    /// Starts an in-place all-reduce of `buffer` (elements of `stride` bytes), in chunks MPI's
    /// counts can hold, each announced to the watch; the progress thread moves it along.
    private func startAllReduce(_ buffer: UnsafeMutableRawBufferPointer, stride: Int, type: MPI_Datatype?, op: MPI_Op?,
                                what: String) -> PendingCollective {
        let pending = Requests(owner: self, operation: currentOperation ?? what)
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return pending }
        chunked(buffer.count / stride) { offset, n in
            var request = ddp_mpi_request_null()
            check(mpi { () -> Int32 in
                watch.enter()
                return MPI_Iallreduce(ddp_mpi_in_place(), base + offset * stride, n, type, op, world, &request)
            }, what)
            pending.requests.append(request)
        }
        track(pending)
        return pending
    }

    /// MPI has no bf16 type: an operation on 16-bit words that adds them as bf16, in float32.
    private lazy var bf16Sum: MPI_Op? = {
        var op: MPI_Op?
        MPI_Op_create({ input, inout_, count, _ in
            guard let input, let inout_, let count else { return }
            BFloat16.add(input.assumingMemoryBound(to: UInt16.self), into: inout_.assumingMemoryBound(to: UInt16.self),
                         count: Int(count.pointee))
        }, 1, &op)
        return op
    }()

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        chunked(buffer.count) { offset, n in
            collective("MPI_Bcast") { MPI_Ibcast(base + offset, n, ddp_mpi_byte(), Int32(root), world, &$0) }
        }
    }

    public func allGather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
        precondition(receive.count == send.count * size, "allGather: receive buffer must hold size × send bytes")
        guard send.count > 0 else { return }
        precondition(send.count <= Int(Int32.max), "allGather: \(send.count) bytes is more than one MPI call carries")
        collective("MPI_Allgather") {
            MPI_Iallgather(send.baseAddress, Int32(send.count), ddp_mpi_byte(), receive.baseAddress, Int32(send.count),
                           ddp_mpi_byte(), world, &$0)
        }
    }

    public func barrier() { collective("MPI_Barrier") { MPI_Ibarrier(world, &$0) } }

    public func abort(code: Int32) -> Never {
        System.flushOutput()
        MPI_Abort(world, code)
        exit(code)
    }

    final class Requests: PolledCollective, @unchecked Sendable {
        var requests: [MPI_Request?] = []
        let owner: MPICommunicator
        /// What the timeout's message calls it.
        let operation: String
        private let stateLock = NSLock()
        private var completed = false
        private(set) var completedAt: Double?
        init(owner: MPICommunicator, operation: String) { self.owner = owner; self.operation = operation }

        /// One MPI_Testall (from either thread); true once everything has arrived.
        func poll() -> Bool {
            stateLock.lock()
            defer { stateLock.unlock() }
            if completed || requests.isEmpty { return true }
            var done: Int32 = 0
            let code = owner.mpi { MPI_Testall(Int32(requests.count), &requests, &done, nil) }
            owner.check(code, "MPI_Testall")
            if done != 0 { completed = true; completedAt = System.now() }
            return completed
        }

        func test() -> Bool { poll() }

        func wait() {
            stateLock.lock()
            defer { stateLock.unlock() }
            if completed || requests.isEmpty { return }
            owner.waitWatched(&requests, operation)
            completed = true
            completedAt = System.now()
        }
    }
}
