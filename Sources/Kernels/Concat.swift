/// Concatenation along one axis of row-major tensors, seen as `[outer, axis·inner]` blocks.
public enum ConcatKernel {
    /// Copies each part's `[outer, parts[i].extent · inner]` block into `y`.
    public static func forward(parts: [(pointer: UnsafePointer<Float>, extent: Int)], outer: Int, inner: Int,
                               y: UnsafeMutablePointer<Float>) {
        let total = parts.reduce(0) { $0 + $1.extent }
        Parallel.forEach(outer, grain: max(1, 16384 / max(total * inner, 1))) { o in
            var offset = 0
            for part in parts {
                let run = part.extent * inner
                (y + o * total * inner + offset).update(from: part.pointer + o * run, count: run)
                offset += run
            }
        }
    }

    /// Copies the slice `[start, start + extent)` of the axis out of `dy` (overwrites `dx`).
    public static func slice(dy: UnsafePointer<Float>, total: Int, start: Int, extent: Int, outer: Int, inner: Int,
                             dx: UnsafeMutablePointer<Float>) {
        let run = extent * inner
        Parallel.forEach(outer, grain: max(1, 16384 / max(run, 1))) { o in
            (dx + o * run).update(from: dy + (o * total + start) * inner, count: run)
        }
    }
}
