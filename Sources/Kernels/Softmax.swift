#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Softmax over the last axis of `[rows, length]`.
public enum SoftmaxKernel {
    public static func forward(x: UnsafePointer<Float>, rows: Int, length: Int, y: UnsafeMutablePointer<Float>) {
        Parallel.forEach(rows, grain: max(1, 8192 / max(length, 1))) { r in
            softmaxRow(x + r * length, y + r * length, length)
        }
    }

    /// `dx = y · (dy − Σ dy·y)`, row by row.
    public static func backward(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows: Int, length: Int,
                                dx: UnsafeMutablePointer<Float>) {
        Parallel.forEach(rows, grain: max(1, 8192 / max(length, 1))) { r in
            let p = y + r * length, g = dy + r * length, out = dx + r * length
            var dot: Float = 0
            for i in 0..<length { dot += p[i] * g[i] }
            for i in 0..<length { out[i] = p[i] * (g[i] - dot) }
        }
    }
}

/// Numerically stable softmax of one row (subtracts the maximum first).
@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ length: Int) {
    var peak = -Float.infinity
    for i in 0..<length { peak = max(peak, x[i]) }
    var total: Float = 0
    for i in 0..<length { let e = expf(x[i] - peak); y[i] = e; total += e }
    let scale = 1 / total
    for i in 0..<length { y[i] *= scale }
}
