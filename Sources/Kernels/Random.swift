#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Glibc.sin(x) }
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
#else
import Darwin
@inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Darwin.sin(x) }
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Darwin.pow(x, y) }
#endif

/// A small, seedable generator (xoshiro256**) so that every run, rank and resume
/// draws the same numbers from the same seed.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        s0 = splitmix64(&x); s1 = splitmix64(&x); s2 = splitmix64(&x); s3 = splitmix64(&x)
    }

    /// A generator for a derived stream, e.g. (seed, epoch, sample index).
    public init(seed: UInt64, stream: UInt64...) {
        var x = seed
        for value in stream { var y = x ^ (value &* 0x9E37_79B9_7F4A_7C15); x = splitmix64(&y) }
        self.init(seed: x)
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Two independent standard normals from one Box–Muller draw.
    public mutating func normalPair() -> (Double, Double) {
        let u1 = max(uniform(), 0x1.0p-60)
        let u2 = uniform()
        let radius = (-2 * _log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        return (radius * _cos(angle), radius * _sin(angle))
    }

    /// Gamma(shape, 1), by Marsaglia and Tsang's method (shape < 1 through Gamma(shape + 1)·U^(1/shape)).
    public mutating func gamma(shape: Double) -> Double {
        precondition(shape > 0, "gamma: shape must be positive")
        if shape < 1 { return gamma(shape: shape + 1) * _pow(max(uniform(), 0x1.0p-60), 1 / shape) }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let (x, _) = normalPair()
            let v = (1 + c * x) * (1 + c * x) * (1 + c * x)
            guard v > 0 else { continue }
            let u = max(uniform(), 0x1.0p-60)
            if _log(u) < 0.5 * x * x + d - d * v + d * _log(v) { return d * v }
        }
    }

    /// Beta(a, b) as the first share of a Dirichlet(a, b), as torchvision draws mixup's λ.
    public mutating func beta(_ a: Double, _ b: Double) -> Double {
        let x = gamma(shape: a), y = gamma(shape: b)
        return x + y > 0 ? x / (x + y) : 0.5
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// SplitMix64 step: advances `state` and returns the next output.
@inline(__always)
public func splitmix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
