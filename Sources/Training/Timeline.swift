import Distributed
import Foundation
import Kernels
import NN

/// `--timeline FILE`: a Chrome/Perfetto trace (`chrome://tracing`, ui.perfetto.dev) of every
/// rank, one process per rank: data loading, forward and backward of every micro-batch, each
/// gradient bucket's all-reduce from its start to its completion (a thread of its own), the
/// wait for it after backward, the optimizer, evaluations and checkpoints. Each rank keeps its
/// events in memory (at most `limit`); at the end of the run rank 0 gathers them and writes
/// the file. Times count from a barrier at start-up, so ranks on one host line up exactly and
/// ranks on different hosts to within that barrier's latency.
public final class Timeline {
    struct Event {
        var name: String, category: String, start: Double, end: Double, thread: Int
    }

    public static let limit = 500_000
    let path: String
    private let origin: Double
    private var events: [Event] = []
    private(set) var dropped = 0

    public init(path: String, communicator: Communicator) {
        self.path = path
        communicator.during("starting the timeline") { communicator.barrier() }
        origin = System.now()
    }

    /// An event of `thread` 0 (training) or 1 (gradient all-reduce), in `System.now()` seconds.
    public func record(_ name: String, _ category: String, start: Double, end: Double, thread: Int = 0) {
        guard events.count < Self.limit else { dropped += 1; return }
        events.append(Event(name: name, category: category, start: start, end: end, thread: thread))
    }

    /// Runs `body` and records it.
    public func measure<T>(_ name: String, _ category: String, _ body: () throws -> T) rethrows -> T {
        let start = System.now()
        defer { record(name, category, start: start, end: System.now()) }
        return try body()
    }

    /// This rank's events as trace JSON objects, comma-separated.
    func json(rank: Int) -> String {
        var parts = [
            #"{"name":"process_name","ph":"M","pid":\#(rank),"args":{"name":"rank \#(rank)"}}"#,
            #"{"name":"thread_name","ph":"M","pid":\#(rank),"tid":0,"args":{"name":"training"}}"#,
            #"{"name":"thread_name","ph":"M","pid":\#(rank),"tid":1,"args":{"name":"gradient all-reduce"}}"#,
        ]
        parts.reserveCapacity(events.count + 3)
        for e in events {
            let ts = (e.start - origin) * 1e6, dur = max(0, e.end - e.start) * 1e6
            parts.append(String(format: #"{"name":"%@","cat":"%@","ph":"X","ts":%.1f,"dur":%.1f,"pid":%d,"tid":%d}"#,
                                e.name, e.category, ts, dur, rank, e.thread))
        }
        return parts.joined(separator: ",")
    }

    /// Gathers every rank's events at rank 0, which writes the trace; every rank must call it.
    public func write(communicator: Communicator) throws {
        let mine = Array(json(rank: communicator.rank).utf8)
        let all = communicator.during("gathering the timeline") { communicator.allGather(mine) }
        guard communicator.rank == 0 else { return }
        let body = all.map { String(decoding: $0, as: UTF8.self) }.filter { !$0.isEmpty }.joined(separator: ",")
        do {
            try AtomicFile.write(Array(#"{"displayTimeUnit":"ms","traceEvents":["#.utf8) + Array(body.utf8) + Array("]}\n".utf8),
                                 to: path)
        } catch {
            throw TrainingError("--timeline: \(error)")
        }
    }
}
