/// Winograd's minimal filtering F(2×2, 3×3) for 3x3 convolutions with stride 1 and padding 1
/// (Lavin & Gray, 2015): each 2×2 output tile takes 16 multiplications per channel pair
/// instead of 36, as 16 matrix products over all tiles at once.
///
/// `y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` with
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
        transformInputs(s, images: n, x: x, into: v)
        // m[ξ] = u[ξ] · v[ξ]: [O, I] · [I, T].
        for xi in 0..<16 {
            BLAS.sgemm(m: outC, n: count, k: inC, a: u + xi * outC * inC, lda: inC,
                       b: v + xi * inC * count, ldb: count, c: m + xi * outC * count, ldc: count)
        }
        // y = Aᵀ m A per tile, a row of tiles at a time (the 16 products of a tile row are 16
        // contiguous runs), cut at the image's edge.
        let stride = outC * count
        for image in 0..<n {
            for o in 0..<outC {
                let plane = y + (image * outC + o) * h * w
                let row = m + o * count + image * tilesH * tilesW
                let b = bias?[o] ?? 0
                for ty in 0..<tilesH {
                    let products = row + ty * tilesW
                    @inline(__always) func at(_ xi: Int, _ tx: Int) -> Float { products[xi * stride + tx] }
                    let oy = 2 * ty
                    let top = plane + oy * w, bottom = oy + 1 < h ? plane + (oy + 1) * w : nil
                    // Rows: s0 = m0 + m1 + m2, s1 = m1 − m2 − m3; columns likewise.
                    @inline(__always) func tile(_ tx: Int) -> (Float, Float, Float, Float) {
                        let a0 = at(0, tx) + at(4, tx) + at(8, tx), a1 = at(1, tx) + at(5, tx) + at(9, tx)
                        let a2 = at(2, tx) + at(6, tx) + at(10, tx), a3 = at(3, tx) + at(7, tx) + at(11, tx)
                        let b0 = at(4, tx) - at(8, tx) - at(12, tx), b1 = at(5, tx) - at(9, tx) - at(13, tx)
                        let b2 = at(6, tx) - at(10, tx) - at(14, tx), b3 = at(7, tx) - at(11, tx) - at(15, tx)
                        return (a0 + a1 + a2 + b, a1 - a2 - a3 + b, b0 + b1 + b2 + b, b1 - b2 - b3 + b)
                    }
                    let full = w / 2  // tiles whose two columns are both inside the image
                    if let bottom {
                        for tx in 0..<full {
                            let v = tile(tx)
                            top[2 * tx] = v.0; top[2 * tx + 1] = v.1
                            bottom[2 * tx] = v.2; bottom[2 * tx + 1] = v.3
                        }
                    } else {
                        for tx in 0..<full {
                            let v = tile(tx)
                            top[2 * tx] = v.0; top[2 * tx + 1] = v.1
                        }
                    }
                    if full < tilesW {  // odd width: the last tile's first column only
                        let v = tile(full)
                        top[2 * full] = v.0
                        bottom?[2 * full] = v.2
                    }
                }
            }
        }
    }

    /// `v[ξ][c][t] = (Bᵀ d B)[ξ]` for the 4×4 patch `d` of every tile `t` of `n` images
    /// `[n, I, H, W]`, zero outside the image; `v` is `[16][I][n·tiles]`.
    ///
    /// A row of tiles at a time: tile tx reads padded columns 2tx…2tx+3, so with the rows split
    /// into even (e[k] = column 2k) and odd (o[k] = column 2k+1) padded columns, each of the 16
    /// outputs is a difference or sum of two contiguous runs, which the compiler vectorises.
    static func transformInputs(_ s: Conv2dShape, images n: Int, x: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let (inC, h, w) = (s.inChannels, s.height, s.width)
        let (tilesH, tilesW) = ((h + 1) / 2, (w + 1) / 2)
        let count = n * tilesH * tilesW
        let run = tilesW + 1
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * run) { buffer in
            let even = buffer.baseAddress!, odd = even + 4 * run      // 4 rows each: the patch rows
            let rowEven = odd + 4 * run, rowOdd = rowEven + 4 * run   // Bᵀ applied down the rows
            for image in 0..<n {
                for c in 0..<inC {
                    let plane = x + (image * inC + c) * h * w
                    let row = v + c * count + image * tilesH * tilesW
                    for ty in 0..<tilesH {
                        for i in 0..<4 {
                            let (e, o) = (even + i * run, odd + i * run)
                            e.update(repeating: 0, count: run)
                            o.update(repeating: 0, count: run)
                            let iy = 2 * ty - 1 + i
                            guard iy >= 0 && iy < h else { continue }
                            let line = plane + iy * w
                            // padded column p = ix + 1: even p ↔ odd ix.
                            var ix = 0
                            while ix < w {
                                let p = ix + 1
                                if p & 1 == 0 { e[p >> 1] = line[ix] } else { o[p >> 1] = line[ix] }
                                ix += 1
                            }
                        }
                        // Rows: r0 = d0 − d2, r1 = d1 + d2, r2 = d2 − d1, r3 = d1 − d3.
                        rowTransform(even, into: rowEven, count: run)
                        rowTransform(odd, into: rowOdd, count: run)
                        // Columns: v0 = p0 − p2, v1 = p1 + p2, v2 = p2 − p1, v3 = p1 − p3 with
                        // p0 = e[tx], p1 = o[tx], p2 = e[tx + 1], p3 = o[tx + 1].
                        let t0 = ty * tilesW
                        for i in 0..<4 {
                            let (e, o) = (rowEven + i * run, rowOdd + i * run)
                            let out0 = row + (i * 4) * inC * count + t0, out1 = row + (i * 4 + 1) * inC * count + t0
                            let out2 = row + (i * 4 + 2) * inC * count + t0, out3 = row + (i * 4 + 3) * inC * count + t0
                            for tx in 0..<tilesW {
                                out0[tx] = e[tx] - e[tx + 1]
                                out1[tx] = o[tx] + e[tx + 1]
                                out2[tx] = e[tx + 1] - o[tx]
                                out3[tx] = o[tx] - o[tx + 1]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Weight gradient: with `y = Aᵀ [U ⊙ V] A` summed over input channels, the gradient of the
    /// transformed weights is `dU[ξ][o][i] = Σₜ (A dy Aᵀ)[ξ][o][t] · V[ξ][i][t]`: 16 matrix
    /// products `[O, T] · [T, I]` whose inner dimension is the tile count, so they run near
    /// sgemm's peak. Accumulates into `du` (`[16][O][I]`) for `n` images.
    static func accumulateWeightGradient(_ s: Conv2dShape, images n: Int, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                         du: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let (inC, outC, h, w) = (s.inChannels, s.outChannels, s.height, s.width)
        let (tilesH, tilesW) = ((h + 1) / 2, (w + 1) / 2)
        let count = n * tilesH * tilesW
        let v = scratch, m = scratch + 16 * inC * count
        transformInputs(s, images: n, x: x, into: v)
        // m[ξ][o][t] = (A g Aᵀ)[ξ] for the 2×2 gradient g of tile t (zero past the image's edge):
        // rows (a, a + c, a − c, −c) from the tile's rows a, c, then the same along each row.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * tilesW) { buffer in
            let (e0, o0, e1, o1) = (buffer.baseAddress!, buffer.baseAddress! + tilesW,
                                    buffer.baseAddress! + 2 * tilesW, buffer.baseAddress! + 3 * tilesW)
            let stride = outC * count
            for image in 0..<n {
                for o in 0..<outC {
                    let plane = dy + (image * outC + o) * h * w
                    let row = m + o * count + image * tilesH * tilesW
                    for ty in 0..<tilesH {
                        // Even and odd columns of the tile's two rows.
                        for r in 0..<2 {
                            let (e, od) = r == 0 ? (e0, o0) : (e1, o1)
                            e.update(repeating: 0, count: tilesW)
                            od.update(repeating: 0, count: tilesW)
                            let iy = 2 * ty + r
                            guard iy < h else { continue }
                            let line = plane + iy * w
                            for ix in 0..<w { if ix & 1 == 0 { e[ix >> 1] = line[ix] } else { od[ix >> 1] = line[ix] } }
                        }
                        let out = row + ty * tilesW
                        for tx in 0..<tilesW {
                            let (a0, a1, c0, c1) = (e0[tx], o0[tx], e1[tx], o1[tx])
                            // Rows of A g: (a0, a1), (a0 + c0, a1 + c1), (a0 − c0, a1 − c1), (−c0, −c1).
                            let rows = ((a0, a1), (a0 + c0, a1 + c1), (a0 - c0, a1 - c1), (-c0, -c1))
                            func put(_ i: Int, _ p: Float, _ q: Float) {
                                out[(4 * i) * stride + tx] = p
                                out[(4 * i + 1) * stride + tx] = p + q
                                out[(4 * i + 2) * stride + tx] = p - q
                                out[(4 * i + 3) * stride + tx] = -q
                            }
                            put(0, rows.0.0, rows.0.1)
                            put(1, rows.1.0, rows.1.1)
                            put(2, rows.2.0, rows.2.1)
                            put(3, rows.3.0, rows.3.1)
                        }
                    }
                }
            }
        }
        // du[ξ] += m[ξ] · v[ξ]ᵀ: [O, T] · [T, I].
        for xi in 0..<16 {
            BLAS.sgemm(transB: true, m: outC, n: inC, k: count, a: m + xi * outC * count, lda: count,
                       b: v + xi * inC * count, ldb: count, beta: 1, c: du + xi * outC * inC, ldc: inC)
        }
    }

    /// `dw[o][i] += (Gᵀ du[o][i] G)`: the 3×3 weight gradient from the transformed one
    /// (`du` is `[16][O][I]`, `dw` is `[O, I, 3, 3]`).
    static func accumulateWeightGradient(fromTransformed du: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                         into dw: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels
        Parallel.forRanges(pairs, grain: 512) { range in
            for oi in range {
                // Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1] down the columns, then along the rows.
                var t = SIMD16<Float>()  // 3×4, rows of 4
                for col in 0..<4 {
                    let (a, b, c, d) = (du[col * pairs + oi], du[(4 + col) * pairs + oi],
                                        du[(8 + col) * pairs + oi], du[(12 + col) * pairs + oi])
                    t[col] = a + 0.5 * (b + c)
                    t[4 + col] = 0.5 * (b - c)
                    t[8 + col] = 0.5 * (b + c) + d
                }
                let g = dw + oi * 9
                for row in 0..<3 {
                    let (a, b, c, d) = (t[row * 4], t[row * 4 + 1], t[row * 4 + 2], t[row * 4 + 3])
                    g[row * 3] += a + 0.5 * (b + c)
                    g[row * 3 + 1] += 0.5 * (b - c)
                    g[row * 3 + 2] += 0.5 * (b + c) + d
                }
            }
        }
    }

    /// `Bᵀ` down four rows of `count` values each (`rows` and `out` hold them one after another).
    @inline(__always)
    static func rowTransform(_ rows: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        let (d0, d1, d2, d3) = (rows, rows + count, rows + 2 * count, rows + 3 * count)
        let (r0, r1, r2, r3) = (out, out + count, out + 2 * count, out + 3 * count)
        for k in 0..<count {
            r0[k] = d0[k] - d2[k]; r1[k] = d1[k] + d2[k]
            r2[k] = d2[k] - d1[k]; r3[k] = d1[k] - d3[k]
        }
    }
}
