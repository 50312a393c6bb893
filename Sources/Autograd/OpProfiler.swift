import Kernels

/// Wall time per operation, forward and backward, while enabled (`ddptrain bench --profile`).
public enum OpProfiler {
    nonisolated(unsafe) public static var isEnabled = false
    nonisolated(unsafe) private static var totals: [String: (seconds: Double, calls: Int)] = [:]

    @inline(__always)
    static func add(_ name: String, since start: Double) {
        guard isEnabled else { return }
        let entry = totals[name] ?? (0, 0)
        totals[name] = (entry.seconds + System.now() - start, entry.calls + 1)
    }

    nonisolated(unsafe) private static var lastMark = 0.0

    /// Starts timing forward ops: each op's forward is the time since the previous op ended.
    public static func mark() { lastMark = System.now() }

    @inline(__always)
    static func forwardEnded(_ name: String) {
        guard isEnabled else { return }
        add(name + " forward", since: lastMark)
        lastMark = System.now()
    }

    public static func reset() { totals = [:] }

    /// Operations by total time, largest first.
    public static func report() -> [(name: String, seconds: Double, calls: Int)] {
        totals.map { ($0.key, $0.value.seconds, $0.value.calls) }.sorted { $0.seconds > $1.seconds }
    }
}
