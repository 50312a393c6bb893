/// Counts forward FLOPs (multiply-adds × 2 of convolutions, linear layers and attention
/// products, the usual convention) while `measure` runs, from each op's shapes.
public enum FLOPCounter {
    nonisolated(unsafe) private static var total: Double?

    @inline(__always)
    static func add(_ flops: Double) {
        if total != nil { total! += flops }
    }

    /// Runs `body` and returns the FLOPs its ops counted.
    public static func measure(_ body: () -> Void) -> Double {
        let outer = total
        total = 0
        body()
        let counted = total ?? 0
        total = outer.map { $0 + counted }
        return counted
    }
}
