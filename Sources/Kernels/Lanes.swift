/// Sixteen values at a time from memory of one element type, as float32 lanes: what the
/// kernels on blocked and bf16 tensors are generic over, so that one body serves float32 and
/// bf16 (loads widen bf16 exactly; stores round to nearest even, as every bf16 instruction does).
public protocol Lanes {
    /// Bytes per element.
    static var stride: Int { get }
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float>
    static func store(_ base: UnsafeMutableRawPointer, _ index: Int, _ value: SIMD16<Float>)
}

public enum Float32Lanes: Lanes {
    public static var stride: Int { 4 }
    @inline(__always)
    public static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        base.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
    }
    @inline(__always)
    public static func store(_ base: UnsafeMutableRawPointer, _ index: Int, _ value: SIMD16<Float>) {
        base.storeBytes(of: value, toByteOffset: index * 4, as: SIMD16<Float>.self)
    }
}

public enum BFloat16Lanes: Lanes {
    public static var stride: Int { 2 }
    @inline(__always)
    public static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        let half = base.loadUnaligned(fromByteOffset: index * 2, as: SIMD16<UInt16>.self)
        return unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: half) &<< 16, to: SIMD16<Float>.self)
    }
    @inline(__always)
    public static func store(_ base: UnsafeMutableRawPointer, _ index: Int, _ value: SIMD16<Float>) {
        let v = unsafeBitCast(value, to: SIMD16<UInt32>.self)
        let rounded = (v &+ 0x7FFF &+ ((v &>> 16) & 1)) &>> 16
        let quiet = (v | 0x0040_0000) &>> 16
        let bits = rounded.replacing(with: quiet, where: value .!= value)
        base.storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: bits), toByteOffset: index * 2, as: SIMD16<UInt16>.self)
    }
}
