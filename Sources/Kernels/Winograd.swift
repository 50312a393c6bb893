/// Winograd's minimal filtering F(m×m, 3×3) for 3x3 convolutions with stride 1 and padding 1
/// (Lavin & Gray, 2015): each m×m output tile is read from an α×α input patch (α = m + 2) and
/// takes α² multiplications per channel pair instead of 9m², done as α² matrix products over
/// all tiles at once.
///
/// `y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. F(2×2, 3×3) needs 16 products per 4 outputs, F(4×4, 3×3)
/// 36 per 16 (4 times fewer than direct); the larger tile's transforms have larger constants,
/// so its results round further from the exact sum (measured against float64 loops: 1.5e-6
/// relative, against 2.5e-7 for F(2×2)). `Conv2dKernel.WinogradPass` says which pass uses which.
///
/// Every transform runs over long contiguous runs: for one channel, the α×α patches of all
/// tiles of all images in a group are gathered into α² runs (entry q of run (i, j) is element
/// (i, j) of tile q's patch), so each transform is a few vector operations per run.
enum Winograd {
    /// Output tile side: F(2×2, 3×3) or F(4×4, 3×3).
    enum Tile: Int, Sendable {
        case two = 2, four = 4
        var m: Int { rawValue }
        /// Patch side: the tile and the 3x3 kernel's halo.
        var alpha: Int { rawValue + 2 }
    }

    /// True for the convolutions this handles, when the channel counts make the products
    /// worth their transforms.
    static func applies(_ s: Conv2dShape) -> Bool {
        s.kernelH == 3 && s.kernelW == 3 && s.strideH == 1 && s.strideW == 1 && s.padH == 1 && s.padW == 1
            && s.inChannels >= 16 && s.outChannels >= 16
    }

    /// The tile with fewer products for this image size (the smaller one on a tie: it rounds less).
    static func tile(for s: Conv2dShape) -> Tile {
        func products(_ t: Tile) -> Int {
            t.alpha * t.alpha * ((s.height + t.m - 1) / t.m) * ((s.width + t.m - 1) / t.m)
        }
        return products(.four) < products(.two) ? .four : .two
    }

    /// Floats of the transformed weights, shared by all workers.
    static func weightCount(_ s: Conv2dShape, _ t: Tile) -> Int { t.alpha * t.alpha * s.outChannels * s.inChannels }

    // MARK: - Scratch and workers

    /// One worker's scratch: two sets of α² runs (an entry per tile of the group) for the two
    /// halves of a transform, and the group's zero-bordered planes of one channel.
    struct TileScratch {
        let runs, rows, planes: UnsafeMutablePointer<Float>

        static func count(_ grid: TileGrid) -> Int { 2 * grid.tile.alpha * grid.tile.alpha * grid.count + grid.planeFloats }

        /// Worker `worker`'s scratch among those starting at `base`.
        init(_ grid: TileGrid, _ base: UnsafeMutablePointer<Float>, worker: Int) {
            let runCount = grid.tile.alpha * grid.tile.alpha * grid.count
            runs = base + worker * Self.count(grid)
            rows = runs + runCount
            planes = rows + runCount
        }
    }

    /// Runs `body(ξ)` for each of the α² points, spread over the workers (`BLAS.forWorkers`).
    private static func forEachPoint(_ t: Tile, _ body: (_ xi: Int) -> Void) {
        BLAS.forWorkers(t.alpha * t.alpha) { _, range in
            for xi in range { body(xi) }
        }
    }

    /// Pairs of channels the weight transforms take at a time.
    private static let pairChunk = 256

    /// Calls `body(first, count, taps, rows)` for runs of at most `pairChunk` channel pairs of
    /// `0..<pairs`, spread over the threads; `taps` holds 9 runs and `rows` 3·α runs of
    /// `pairChunk` floats each, the two halves of a weight transform.
    private static func forPairChunks(_ pairs: Int, _ t: Tile,
                                      _ body: (_ first: Int, _ count: Int, _ taps: UnsafeMutablePointer<Float>,
                                               _ rows: UnsafeMutablePointer<Float>) -> Void) {
        Parallel.forRanges(pairs, grain: pairChunk) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: (9 + 3 * t.alpha) * pairChunk) { buffer in
                let taps = buffer.baseAddress!, rows = taps + 9 * pairChunk
                var first = range.lowerBound
                while first < range.upperBound {
                    let n = min(pairChunk, range.upperBound - first)
                    body(first, n, taps, rows)
                    first += n
                }
            }
        }
    }

    /// `u[ξ][o][i] = (G w[o][i] Gᵀ)[ξ]` for weights `[O, I, 3, 3]`. With `flipped`, the
    /// weights whose convolution of `dy` is `dx` instead: `w[i][o]` turned by 180°, so `u` is
    /// `[α²][I][O]`.
    static func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, flipped: Bool = false,
                                 tile t: Tile, into u: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels
        forPairChunks(pairs, t) { first, n, taps, rows in
            // taps[k][p] = tap k of pair first + p. Pair oi = (a, b) of u's
            // [outChannels][inChannels]; flipped, it comes from the stored weights'
            // (b, a), which are [inChannels][outChannels], back to front.
            for p in 0..<n {
                let oi = first + p
                let source = w + (flipped ? (oi % inChannels) * outChannels + oi / inChannels : oi) * 9
                for k in 0..<9 { taps[k * pairChunk + p] = flipped ? source[8 - k] : source[k] }
            }
            // G down the kernel's columns into rows[a][col], then along its rows into u.
            for col in 0..<3 {
                apply(.g, t, taps + col * pairChunk, stride: 3 * pairChunk, rows + col * pairChunk, stride: 3 * pairChunk, count: n)
            }
            for a in 0..<t.alpha {
                apply(.g, t, rows + a * 3 * pairChunk, stride: pairChunk, u + a * t.alpha * pairs + first, stride: pairs, count: n)
            }
        }
    }

    /// `dw[o][i] += (Gᵀ du[o][i] G)`: the 3×3 weight gradient from the transformed one
    /// (`du` is `[α²][O][I]`, `dw` is `[O, I, 3, 3]`).
    static func accumulateWeightGradient(fromTransformed du: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                         tile t: Tile, into dw: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels
        forPairChunks(pairs, t) { first, n, taps, rows in
            // Gᵀ along the rows of du into rows[a][col], then down the columns into taps.
            for a in 0..<t.alpha {
                apply(.gT, t, du + a * t.alpha * pairs + first, stride: pairs, rows + a * 3 * pairChunk, stride: pairChunk, count: n)
            }
            for col in 0..<3 {
                apply(.gT, t, rows + col * pairChunk, stride: 3 * pairChunk, taps + col * pairChunk, stride: 3 * pairChunk, count: n)
            }
            for p in 0..<n {
                let target = dw + (first + p) * 9
                for k in 0..<9 { target[k] += taps[k * pairChunk + p] }
            }
        }
    }

    /// Convolves `images` inputs `[n, I, H, W]` into `[n, O, H, W]` with the transformed weights
    /// `u`, on all workers: input transforms split by channel, the α² products by point, output
    /// transforms by output channel (on one worker when called inside a parallel loop). `scratch`
    /// holds a `WinogradSchedule`'s `groupScratch` floats.
    static func convolve(_ s: Conv2dShape, _ t: Tile, images n: Int, x: UnsafePointer<Float>, u: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let grid = TileGrid(s, t, images: n)
        let (inC, outC, m, alpha, count) = (s.inChannels, s.outChannels, t.m, t.alpha, grid.count)
        let v = scratch, products = v + alpha * alpha * inC * count
        let workers = products + alpha * alpha * outC * count
        grid.withOrigins { origins in
            Parallel.forWorkers(inC) { worker, channels in
                let w = TileScratch(grid, workers, worker: worker)
                grid.clear(w.planes)
                transformInputs(s, grid, channels: channels, x: x, into: v, w, origins: origins)
            }
            // products[ξ] = u[ξ] · v[ξ]: [O, I] · [I, T].
            forEachPoint(t) { xi in
                BLAS.sgemm(m: outC, n: count, k: inC, a: u + xi * outC * inC, lda: inC,
                           b: v + xi * inC * count, ldb: count, c: products + xi * outC * count, ldc: count)
            }
            // y = Aᵀ p A for each output channel: down the patch's rows into `rows` (m×α runs),
            // then along them into `runs` (m×m runs), then out to the planes and the images.
            Parallel.forWorkers(outC) { worker, channels in
                let w = TileScratch(grid, workers, worker: worker)
                for o in channels {
                    for b in 0..<alpha {
                        apply(.aT, t, products + (b * outC + o) * count, stride: alpha * outC * count, w.rows + b * count,
                              stride: alpha * count, count: count)
                    }
                    for r in 0..<m {
                        apply(.aT, t, w.rows + r * alpha * count, stride: count, w.runs + r * m * count, stride: count, count: count)
                    }
                    grid.scatterTiles(w.runs, origins: origins, into: w.planes)
                    grid.storeImages(w.planes, bias: bias?[o] ?? 0, into: y + o * s.height * s.width,
                                     imageStride: outC * s.height * s.width)
                }
            }
        }
    }

    /// `v[ξ][c][q] = (Bᵀ d B)[ξ]` for the α×α patch `d` of every tile `q` of the group's images
    /// `[n, I, H, W]`, zero outside the image, for the input channels `channels`; `v` is
    /// `[α²][I][n·tiles]`. `w.planes` must have zero borders.
    static func transformInputs(_ s: Conv2dShape, _ grid: TileGrid, channels: Range<Int>, x: UnsafePointer<Float>,
                                into v: UnsafeMutablePointer<Float>, _ w: TileScratch, origins: UnsafePointer<Int32>) {
        let (inC, t, alpha, count) = (s.inChannels, grid.tile, grid.tile.alpha, grid.count)
        for c in channels {
            grid.loadImages(x + c * s.height * s.width, imageStride: inC * s.height * s.width, into: w.planes)
            grid.gatherPatches(w.planes, origins: origins, into: w.runs)
            // Bᵀ down the patch's columns, then along its rows, straight into v.
            for j in 0..<alpha {
                apply(.bT, t, w.runs + j * count, stride: alpha * count, w.rows + j * count, stride: alpha * count, count: count)
            }
            for i in 0..<alpha {
                apply(.bT, t, w.rows + i * alpha * count, stride: count, v + (i * alpha * inC + c) * count, stride: inC * count,
                      count: count)
            }
        }
    }

    /// Weight gradient: with `y = Aᵀ [U ⊙ V] A` summed over input channels, the gradient of the
    /// transformed weights is `dU[ξ][o][i] = Σ_q (A dy Aᵀ)[ξ][o][q] · V[ξ][i][q]`: α² matrix
    /// products `[O, T] · [T, I]` whose inner dimension is the tile count, so they run near
    /// sgemm's peak. Accumulates into `du` (`[α²][O][I]`) for `n` images, or with `overwrite`
    /// replaces what it holds. Runs on all workers, each point's product on one of them, so `du`
    /// needs no partial sums.
    static func accumulateWeightGradient(_ s: Conv2dShape, _ t: Tile, images n: Int, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                         du: UnsafeMutablePointer<Float>, overwrite: Bool = false,
                                         scratch: UnsafeMutablePointer<Float>) {
        let grid = TileGrid(s, t, images: n)
        let (inC, outC, m, alpha, count) = (s.inChannels, s.outChannels, t.m, t.alpha, grid.count)
        let v = scratch, grads = v + alpha * alpha * inC * count
        let workers = grads + alpha * alpha * outC * count
        grid.withOrigins { origins in
            // Items 0..<I transform the inputs' channels, I..<I+O the output gradient's.
            Parallel.forWorkers(inC + outC) { worker, items in
                let w = TileScratch(grid, workers, worker: worker)
                grid.clear(w.planes)
                transformInputs(s, grid, channels: items.clamped(to: 0..<inC), x: x, into: v, w, origins: origins)
                let gradients = items.clamped(to: inC..<inC + outC)
                for o in gradients.lowerBound - inC..<gradients.upperBound - inC {
                    // runs[(r, c)][q] = dy at row m·ty + r, column m·tx + c of tile q, zero past the edge.
                    grid.loadImages(dy + o * s.height * s.width, imageStride: outC * s.height * s.width, into: w.planes)
                    grid.gatherTiles(w.planes, origins: origins, into: w.runs)
                    // A down the columns (m → α rows), then along the rows, into grads[ξ][o].
                    for col in 0..<m {
                        apply(.a, t, w.runs + col * count, stride: m * count, w.rows + col * count, stride: m * count, count: count)
                    }
                    for a in 0..<alpha {
                        apply(.a, t, w.rows + a * m * count, stride: count, grads + (a * alpha * outC + o) * count,
                              stride: outC * count, count: count)
                    }
                }
            }
        }
        // du[ξ] (+)= grads[ξ] · v[ξ]ᵀ: [O, T] · [T, I].
        forEachPoint(t) { xi in
            BLAS.sgemm(transB: true, m: outC, n: inC, k: count, a: grads + xi * outC * count, lda: count,
                       b: v + xi * inC * count, ldb: count, beta: overwrite ? 0 : 1, c: du + xi * outC * inC, ldc: inC)
        }
    }

    // MARK: - Transforms over runs

    /// The transform matrices: `Bᵀ` (α → α, inputs), `Aᵀ` (α → m, outputs), `A` (m → α,
    /// gradients of the outputs), `G` (3 → α, weights) and `Gᵀ` (α → 3, weight gradients).
    enum Matrix { case bT, aT, a, g, gT }

    /// Applies `matrix` of tile `t` to runs `x + k·xs` (k over its columns), writing runs
    /// `y + k·ys` (k over its rows), `count` entries each.
    static func apply(_ matrix: Matrix, _ t: Tile, _ x: UnsafePointer<Float>, stride xs: Int,
                      _ y: UnsafeMutablePointer<Float>, stride ys: Int, count: Int) {
        let r = Runs(x: x, xs: xs, y: y, ys: ys)
        switch (matrix, t) {
        case (.bT, .two): forLanes(InputTransform2(r: r), count: count)
        case (.bT, .four): forLanes(InputTransform4(r: r), count: count)
        case (.aT, .two): forLanes(OutputTransform2(r: r), count: count)
        case (.aT, .four): forLanes(OutputTransform4(r: r), count: count)
        case (.a, .two): forLanes(OutputGradientTransform2(r: r), count: count)
        case (.a, .four): forLanes(OutputGradientTransform4(r: r), count: count)
        case (.g, .two): forLanes(WeightTransform2(r: r), count: count)
        case (.g, .four): forLanes(WeightTransform4(r: r), count: count)
        case (.gT, .two): forLanes(WeightGradientTransform2(r: r), count: count)
        case (.gT, .four): forLanes(WeightGradientTransform4(r: r), count: count)
        }
    }
}
