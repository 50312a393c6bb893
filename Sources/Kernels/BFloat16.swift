/// bfloat16: the top 16 bits of a float32 (8-bit exponent, 8-bit significand), rounded to
/// nearest even as every bf16 instruction and PyTorch's `.to(torch.bfloat16)` round.
public enum BFloat16 {
    /// `x` rounded to the nearest bf16, as a float32 whose low 16 bits are zero. NaN stays NaN.
    @inline(__always)
    public static func round(_ x: Float) -> Float {
        Float(bitPattern: UInt32(bits(x)) << 16)
    }

    /// The bf16 bit pattern of `x`, rounded to nearest even.
    @inline(__always)
    public static func bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: (b | 0x0040_0000) >> 16) }
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    /// `target[i] += source[i]` on bf16 bit patterns: each pair added in float32 and the sum
    /// rounded back to bf16 (the partial sums of a bf16 all-reduce).
    public static func add(_ source: UnsafePointer<UInt16>, into target: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count {
            target[i] = bits(Float(bitPattern: UInt32(target[i]) << 16) + Float(bitPattern: UInt32(source[i]) << 16))
        }
    }

    @inline(__always)
    static func roundedBits(_ v: SIMD8<UInt32>, isNaN: SIMDMask<SIMD8<Int32>>) -> SIMD8<UInt32> {
        let rounded = (v &+ 0x7FFF &+ ((v &>> 16) & 1)) & 0xFFFF_0000
        let quiet = (v | 0x0040_0000) & 0xFFFF_0000
        return SIMD8<UInt32>(truncatingIfNeeded: SIMD8<Int32>(truncatingIfNeeded: rounded)
            .replacing(with: SIMD8<Int32>(truncatingIfNeeded: quiet), where: isNaN))
    }

    /// `count` floats rounded to bf16, still as float32 (the emulated bf16 product's operands).
    public static func round(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<Float>) {
        var i = 0
        source.withMemoryRebound(to: UInt32.self, capacity: count) { src in
            target.withMemoryRebound(to: UInt32.self, capacity: count) { dst in
                while i + 8 <= count {
                    let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<UInt32>.self)
                    let f = UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self)
                    let nan = f .!= f
                    UnsafeMutableRawPointer(dst + i).storeBytes(of: roundedBits(v, isNaN: nan), as: SIMD8<UInt32>.self)
                    i += 8
                }
            }
        }
        while i < count { target[i] = round(source[i]); i += 1 }
    }

    /// `round(_:count:into:)` spread over the rank's threads.
    public static func roundInParallel(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<Float>) {
        Parallel.forRanges(count, grain: 1 << 16) { range in
            round(source + range.lowerBound, count: range.count, into: target + range.lowerBound)
        }
    }

    /// `convert(_:count:into:)` spread over the rank's threads.
    public static func convertInParallel(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<UInt16>) {
        let (s, t) = (UncheckedSendable(source), UncheckedSendable(target))
        Parallel.forRanges(count, grain: 1 << 16) { range in
            convert(s.value + range.lowerBound, count: range.count, into: t.value + range.lowerBound)
        }
    }

    /// `count` floats as bf16 bit patterns (oneDNN's bf16 operands).
    public static func convert(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<UInt16>) {
        var i = 0
        source.withMemoryRebound(to: UInt32.self, capacity: count) { src in
            while i + 8 <= count {
                let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<UInt32>.self)
                let f = UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self)
                let nan = f .!= f
                let high = SIMD8<UInt16>(truncatingIfNeeded: roundedBits(v, isNaN: nan) &>> 16)
                UnsafeMutableRawPointer(target + i).storeBytes(of: high, as: SIMD8<UInt16>.self)
                i += 8
            }
        }
        while i < count { target[i] = bits(source[i]); i += 1 }
    }
}
