/// Winograd's minimal filtering F(2×2, 3×3) for 3x3 convolutions with stride 1 and padding 1
/// (Lavin & Gray, 2015): each 2×2 output tile takes 16 multiplications per channel pair
/// instead of 36, as 16 matrix products over all tiles at once.
///
/// `y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ)] A` with
/// `Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]`, `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]`,
/// `Aᵀ = [1 1 1 0; 0 1 −1 −1]`: the transforms only add, subtract and halve, so the result
/// stays within float rounding of the direct sum.
enum Winograd {
    /// True for the convolutions this handles, when the channel counts make the 16 products
    /// worth their transforms.
    static func applies(_ s: Conv2dShape) -> Bool {
        s.kernelH == 3 && s.kernelW == 3 && s.strideH == 1 && s.strideW == 1 && s.padH == 1 && s.padW == 1
            && s.inChannels >= 16 && s.outChannels >= 16
    }

    static func tiles(_ s: Conv2dShape) -> Int { ((s.height + 1) / 2) * ((s.width + 1) / 2) }

    /// Floats of the transformed weights, shared by all workers.
    static func weightCount(_ s: Conv2dShape) -> Int { 16 * s.outChannels * s.inChannels }

    /// Floats one worker needs for a group of `images`: transformed inputs and products.
    static func scratchCount(_ s: Conv2dShape, images: Int) -> Int {
        16 * (s.inChannels + s.outChannels) * images * tiles(s)
    }

    /// `u[ξ][o][i] = (G w[o][i] Gᵀ)[ξ]` for weights `[O, I, 3, 3]`. With `flipped`, the
    /// weights whose convolution of `dy` is `dx` instead: `w[i][o]` turned by 180°, so `u` is
    /// `[16][I][O]`.
    static func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, flipped: Bool = false,
                                 into u: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels
        Parallel.forRanges(pairs, grain: 512) { range in
            for oi in range {
                // Entry oi = (a, b) of u's [outChannels][inChannels]; flipped, it comes from the
                // stored weights' (b, a), which are [inChannels][outChannels], back to front.
                let g = w + (flipped ? (oi % inChannels) * outChannels + oi / inChannels : oi) * 9
                @inline(__always) func tap(_ k: Int) -> Float { flipped ? g[8 - k] : g[k] }
                // t = G g (4×3), then u = t Gᵀ (4×4).
                var t = SIMD16<Float>()
                for col in 0..<3 {
                    let (g0, g1, g2) = (tap(col), tap(3 + col), tap(6 + col))
                    t[col] = g0
                    t[4 + col] = 0.5 * (g0 + g1 + g2)
                    t[8 + col] = 0.5 * (g0 - g1 + g2)
                    t[12 + col] = g2
                }
                for row in 0..<4 {
                    let (a, b, c) = (t[row * 4], t[row * 4 + 1], t[row * 4 + 2])
                    let values = (a, 0.5 * (a + b + c), 0.5 * (a - b + c), c)
                    u[(row * 4) * pairs + oi] = values.0
                    u[(row * 4 + 1) * pairs + oi] = values.1
                    u[(row * 4 + 2) * pairs + oi] = values.2
                    u[(row * 4 + 3) * pairs + oi] = values.3
                }
            }
        }
    }

    /// Convolves `images` inputs `[n, I, H, W]` into `[n, O, H, W]` with the transformed weights `u`.
    static func convolve(_ s: Conv2dShape, images n: Int, x: UnsafePointer<Float>, u: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let (inC, outC, h, w) = (s.inChannels, s.outChannels, s.height, s.width)
        let (tilesH, tilesW) = ((h + 1) / 2, (w + 1) / 2)
        let count = n * tilesH * tilesW
        let v = scratch, m = scratch + 16 * inC * count
        // v[ξ][c][t] = (Bᵀ d B)[ξ] for the 4×4 patch d of tile t, zero outside the image.
        for image in 0..<n {
            for c in 0..<inC {
                let plane = x + (image * inC + c) * h * w
                let row = v + c * count + image * tilesH * tilesW
                for ty in 0..<tilesH {
                    for tx in 0..<tilesW {
                        var d = SIMD16<Float>()
                        let (y0, x0) = (2 * ty - 1, 2 * tx - 1)
                        if y0 >= 0 && y0 + 3 < h && x0 >= 0 && x0 + 3 < w {
                            for i in 0..<4 {
                                let line = plane + (y0 + i) * w + x0
                                d[i * 4] = line[0]; d[i * 4 + 1] = line[1]; d[i * 4 + 2] = line[2]; d[i * 4 + 3] = line[3]
                            }
                        } else {
                            for i in 0..<4 where y0 + i >= 0 && y0 + i < h {
                                for j in 0..<4 where x0 + j >= 0 && x0 + j < w { d[i * 4 + j] = plane[(y0 + i) * w + x0 + j] }
                            }
                        }
                        let t = ty * tilesW + tx
                        let transformed = inputTransform(d)
                        for xi in 0..<16 { row[xi * inC * count + t] = transformed[xi] }
                    }
                }
            }
        }
        // m[ξ] = u[ξ] · v[ξ]: [O, I] · [I, T].
        for xi in 0..<16 {
            BLAS.sgemm(m: outC, n: count, k: inC, a: u + xi * outC * inC, lda: inC,
                       b: v + xi * inC * count, ldb: count, c: m + xi * outC * count, ldc: count)
        }
        // y = Aᵀ m A per tile, cut at the image's edge.
        for image in 0..<n {
            for o in 0..<outC {
                let plane = y + (image * outC + o) * h * w
                let row = m + o * count + image * tilesH * tilesW
                let b = bias?[o] ?? 0
                for ty in 0..<tilesH {
                    for tx in 0..<tilesW {
                        let t = ty * tilesW + tx
                        var p = SIMD16<Float>()
                        for xi in 0..<16 { p[xi] = row[xi * outC * count + t] }
                        let out = outputTransform(p)
                        let (oy, ox) = (2 * ty, 2 * tx)
                        plane[oy * w + ox] = out.0 + b
                        if ox + 1 < w { plane[oy * w + ox + 1] = out.1 + b }
                        if oy + 1 < h {
                            plane[(oy + 1) * w + ox] = out.2 + b
                            if ox + 1 < w { plane[(oy + 1) * w + ox + 1] = out.3 + b }
                        }
                    }
                }
            }
        }
    }

    /// `Bᵀ d B` for a row-major 4×4 patch.
    @inline(__always)
    static func inputTransform(_ d: SIMD16<Float>) -> SIMD16<Float> {
        // Rows: r0 = d0 − d2, r1 = d1 + d2, r2 = d2 − d1, r3 = d1 − d3 (as 4-wide rows).
        let d0 = SIMD4(d[0], d[1], d[2], d[3]), d1 = SIMD4(d[4], d[5], d[6], d[7])
        let d2 = SIMD4(d[8], d[9], d[10], d[11]), d3 = SIMD4(d[12], d[13], d[14], d[15])
        let r0 = d0 - d2, r1 = d1 + d2, r2 = d2 - d1, r3 = d1 - d3
        // Columns likewise: c0 = r·0 − r·2, c1 = r·1 + r·2, c2 = r·2 − r·1, c3 = r·1 − r·3.
        @inline(__always) func columns(_ r: SIMD4<Float>) -> SIMD4<Float> {
            SIMD4(r[0] - r[2], r[1] + r[2], r[2] - r[1], r[1] - r[3])
        }
        let (v0, v1, v2, v3) = (columns(r0), columns(r1), columns(r2), columns(r3))
        return SIMD16(v0[0], v0[1], v0[2], v0[3], v1[0], v1[1], v1[2], v1[3],
                      v2[0], v2[1], v2[2], v2[3], v3[0], v3[1], v3[2], v3[3])
    }

    /// `Aᵀ m A` for a row-major 4×4 product: the 2×2 outputs (y00, y01, y10, y11).
    @inline(__always)
    static func outputTransform(_ m: SIMD16<Float>) -> (Float, Float, Float, Float) {
        let m0 = SIMD4(m[0], m[1], m[2], m[3]), m1 = SIMD4(m[4], m[5], m[6], m[7])
        let m2 = SIMD4(m[8], m[9], m[10], m[11]), m3 = SIMD4(m[12], m[13], m[14], m[15])
        let s0 = m0 + m1 + m2, s1 = m1 - m2 - m3
        return (s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3], s1[0] + s1[1] + s1[2], s1[1] - s1[2] - s1[3])
    }
}
