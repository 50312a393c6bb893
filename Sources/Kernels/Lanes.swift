/// Sixteen values at a time from memory of one element type, as float32 lanes: what the
/// kernels on blocked and bf16 tensors are generic over, so that one body serves float32 and
/// bf16 (loads widen bf16 exactly; stores round to nearest even, as every bf16 instruction does).
///
/// A load may hand the sixteen values over in another lane order (`channel(_:)` says which
/// value each lane holds; a store puts them back): element-wise passes never notice, and a
/// per-channel one loads its per-channel factors in the same order (`factors`).
public protocol Lanes {
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float>
    static func store(_ base: UnsafeMutableRawPointer, _ index: Int, _ value: SIMD16<Float>)
    /// Which of the sixteen loaded values lane `lane` holds.
    static func channel(_ lane: Int) -> Int
}

extension Lanes {
    /// `values[16·block ..< 16·block + 16]` in the lane order of `load`.
    @inline(__always)
    public static func factors(_ values: UnsafePointer<Float>, _ block: Int) -> SIMD16<Float> {
        var v = SIMD16<Float>()
        for lane in 0..<16 { v[lane] = values[block * 16 + channel(lane)] }
        return v
    }
}

public enum Float32Lanes: Lanes {
    @inline(__always)
    public static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        base.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
    }
    @inline(__always)
    public static func store(_ base: UnsafeMutableRawPointer, _ index: Int, _ value: SIMD16<Float>) {
        base.storeBytes(of: value, toByteOffset: index * 4, as: SIMD16<Float>.self)
    }
    @inline(__always) public static func channel(_ lane: Int) -> Int { lane }
}

/// bf16 pairs are read as 32-bit words, so that widening and rounding are plain 32-bit vector
/// operations (Swift's 16-to-32-bit vector conversion is a call per vector): the even values of
/// the sixteen come first, then the odd ones.
public enum BFloat16Lanes: Lanes {
    @inline(__always)
    public static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        let words = base.loadUnaligned(fromByteOffset: index * 2, as: SIMD8<UInt32>.self)
        return unsafeBitCast(SIMD16<UInt32>(lowHalf: words &<< 16, highHalf: words & 0xFFFF_0000), to: SIMD16<Float>.self)
    }
    @inline(__always)
    public static func store(_ base: UnsafeMutableRawPointer, _ index: Int, _ value: SIMD16<Float>) {
        let v = unsafeBitCast(value, to: SIMD16<UInt32>.self)
        let rounded = (v &+ 0x7FFF &+ ((v &>> 16) & 1)) & 0xFFFF_0000
        let quiet = (v | 0x0040_0000) & 0xFFFF_0000
        let bits = rounded.replacing(with: quiet, where: value .!= value)
        base.storeBytes(of: (bits.lowHalf &>> 16) | bits.highHalf, toByteOffset: index * 2, as: SIMD8<UInt32>.self)
    }
    @inline(__always) public static func channel(_ lane: Int) -> Int { lane < 8 ? 2 * lane : 2 * (lane - 8) + 1 }
}
