#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Pointwise activations, each a forward/backward pair over flat buffers.
public enum ActivationKernel {
    static let grain = 32768

    public static func reluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: grain) { r in for i in r { y[i] = max(x[i], 0) } }
    }

    /// `y = max(a + b, 0)` in one pass (a residual block's end); the backward is `reluBackward`'s.
    public static func addReLUForward(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                      count: Int) {
        Parallel.forRanges(count, grain: grain) { r in for i in r { y[i] = max(a[i] + b[i], 0) } }
    }

    /// `dx = dy` where the output was positive (`reluPassed`); reads the saved output, not the input.
    public static func reluBackward(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: grain) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                UnsafeMutableRawPointer(dx + i).storeBytes(of: reluPassed(dy, where: y, at: i), as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound { dx[i] = reluPassed(dy[i], where: y[i]); i += 1 }
        }
    }

    public static func sigmoidForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: grain) { r in for i in r { y[i] = 1 / (1 + expf(-x[i])) } }
    }

    public static func sigmoidBackward(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: grain) { r in for i in r { dx[i] = dy[i] * y[i] * (1 - y[i]) } }
    }

    /// Exact GELU: `x · Φ(x)` with the normal CDF through `erf`.
    public static func geluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: grain / 8) { r in
            for i in r { y[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.70710678118654752)) }
        }
    }

    /// `dx = dy · (Φ(x) + x · φ(x))`.
    public static func geluBackward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: grain / 8) { r in
            for i in r {
                let v = x[i]
                let cdf = 0.5 * (1 + erff(v * 0.70710678118654752))
                let pdf = 0.39894228040143268 * expf(-0.5 * v * v)
                dx[i] = dy[i] * (cdf + v * pdf)
            }
        }
    }
}

/// ReLU's backward rule, for every kernel that applies it (ReLU, add + ReLU, batch norm + ReLU):
/// the gradient `dy` passes where the ReLU's output `y` is positive and is zero elsewhere.
/// Eight lanes from `i`, branch-free (with signs at random a branch mispredicts half the time).
@inline(__always) func reluPassed(_ dy: UnsafePointer<Float>, where y: UnsafePointer<Float>, at i: Int) -> SIMD8<Float> {
    let positive = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self) .> 0
    return SIMD8<Float>().replacing(with: UnsafeRawPointer(dy + i).loadUnaligned(as: SIMD8<Float>.self), where: positive)
}

/// The same rule for one value.
@inline(__always) func reluPassed(_ dy: Float, where y: Float) -> Float { y > 0 ? dy : 0 }
