/// Max pooling on blocked tensors (`TensorFormat.blocked`), float32 or bf16: sixteen channels
/// of a pixel compared at once, the same winner as `PoolKernel.maxForward` (the first maximum in
/// row-major order of the window, NaN propagating). The ResNet stem's pool sits between two
/// blocked operations, so it runs here instead of converting its input to plain float32 and back.
public enum BlockedPoolKernel {
    /// `y` = max over each window; `argmax` receives, per output element, the winner's pixel
    /// inside its plane.
    public static func maxForward(_ s: Pool2dShape, _ element: OneDNN.Element, x: UnsafeRawPointer,
                                  y: UnsafeMutableRawPointer, argmax: UnsafeMutablePointer<Int32>) {
        precondition(s.channels % 16 == 0, "blocked max pool over \(s.channels) channels")
        func run<L: Lanes>(_: L.Type) {
            let (inPlane, outPlane) = (s.height * s.width, s.outH * s.outW)
            Parallel.forEach(s.planes / 16, grain: 1) { block in
                let src = block * inPlane * 16, dst = block * outPlane * 16
                for oy in 0..<s.outH {
                    let y0 = oy * s.stride - s.padding
                    let rows = max(y0, 0)..<min(y0 + s.kernel, s.height)
                    for ox in 0..<s.outW {
                        let x0 = ox * s.stride - s.padding
                        let columns = max(x0, 0)..<min(x0 + s.kernel, s.width)
                        var best = SIMD16<Float>(repeating: -.infinity)
                        var at = SIMD16<Int32>(repeating: Int32(rows.lowerBound * s.width + columns.lowerBound))
                        for iy in rows {
                            for ix in columns {
                                let pixel = iy * s.width + ix
                                let v = L.load(x, src + pixel * 16)
                                let wins = (v .> best) .| ((v .!= v) .& (best .== best))
                                best.replace(with: v, where: wins)
                                at.replace(with: SIMD16(repeating: Int32(pixel)), where: wins)
                            }
                        }
                        let o = oy * s.outW + ox
                        L.store(y, dst + o * 16, best)
                        UnsafeMutableRawPointer(argmax + dst + o * 16).storeBytes(of: at, as: SIMD16<Int32>.self)
                    }
                }
            }
        }
        element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
    }

    /// `dx` is overwritten: each output's gradient goes to the input pixel that won (summed in
    /// float32 where windows overlap, then stored in the element type).
    public static func maxBackward(_ s: Pool2dShape, _ element: OneDNN.Element, dy: UnsafeRawPointer,
                                   argmax: UnsafePointer<Int32>, dx: UnsafeMutableRawPointer) {
        func run<L: Lanes>(_: L.Type) {
            let (inPlane, outPlane) = (s.height * s.width, s.outH * s.outW)
            Parallel.forEach(s.planes / 16, grain: 1) { block in
                let sums = ThreadScratch.current(.pooling).reserve(inPlane * 16 * 4).bindMemory(to: Float.self, capacity: inPlane * 16)
                sums.update(repeating: 0, count: inPlane * 16)
                let src = block * outPlane * 16
                for o in 0..<outPlane {
                    let g = L.load(dy, src + o * 16)
                    let at = UnsafeRawPointer(argmax + src + o * 16).loadUnaligned(as: SIMD16<Int32>.self)
                    for lane in 0..<16 { sums[Int(at[lane]) * 16 + lane] += g[lane] }
                }
                let dst = block * inPlane * 16
                for pixel in 0..<inPlane {
                    L.store(dx, dst + pixel * 16, UnsafeRawPointer(sums + pixel * 16).loadUnaligned(as: SIMD16<Float>.self))
                }
            }
        }
        element == .f32 ? run(Float32Lanes.self) : run(BFloat16Lanes.self)
    }
}
