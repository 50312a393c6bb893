/// 2-D convolution (cross-correlation, as PyTorch's `conv2d`) on NCHW buffers, lowered to
/// sgemm over im2col matrices of groups of images, or to Winograd's products for 3x3 stride-1
/// convolutions.
public struct Conv2dShape: Hashable, Sendable {
    public var batch, inChannels, height, width, outChannels: Int
    public var kernelH, kernelW, strideH, strideW, padH, padW: Int

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1, padH: Int = 0, padW: Int = 0) {
        self.batch = batch; self.inChannels = inChannels; self.height = height; self.width = width
        self.outChannels = outChannels; self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW; self.padH = padH; self.padW = padW
    }

    public var window: WindowGeometry {
        WindowGeometry(channels: inChannels, height: height, width: width, kernelH: kernelH, kernelW: kernelW,
                       strideH: strideH, strideW: strideW, padH: padH, padW: padW)
    }
    public var outH: Int { window.outH }
    public var outW: Int { window.outW }
    public var inputCount: Int { batch * inChannels * height * width }
    public var inputShape: [Int] { [batch, inChannels, height, width] }
    public var outputCount: Int { batch * outChannels * outH * outW }
    public var weightCount: Int { outChannels * inChannels * kernelH * kernelW }
    /// Multiply-adds of one forward pass, times two.
    public var forwardFLOPs: Double { 2 * Double(outputCount) * Double(inChannels * kernelH * kernelW) }
}

public enum Conv2dKernel {
    /// Columns one sgemm should see at least: small images (CIFAR, Fashion-MNIST, the deep
    /// layers of any network) are grouped so that the matrix products stay efficient.
    static let targetColumns = 4096

    /// Planes from which a 1x1 stride-1 conv runs one sgemm per image.
    static let identityPlaneAlone = 512

    /// Floats of column matrix one worker may hold (16 MiB): larger groups gain nothing in
    /// sgemm speed and cost memory (ResNet-50's stride-2 3x3 convs would take 48 MiB).
    static let maxColumnFloats = 4 << 20

    /// Images per sgemm: enough for `targetColumns` where the column matrix stays within
    /// `maxColumnFloats`, and no more than keeps every thread busy with equal shares.
    public static func groupSize(_ s: Conv2dShape) -> Int {
        guard s.batch > 0 else { return 1 }
        let plane = max(s.outH * s.outW, 1)
        // A 1x1 stride-1 conv of a large plane multiplies each image's own [C, P] matrix: grouping
        // would only add two copies (measured in docs/benchmarks.md).
        if s.window.isIdentity && plane >= identityPlaneAlone { return 1 }
        let threads = max(Parallel.threadCount, 1)
        let perThread = (s.batch + threads - 1) / threads
        let byMemory = maxColumnFloats / max(s.window.columnRows * plane, 1)
        let group = max(1, min(s.batch, (targetColumns + plane - 1) / plane, perThread, byMemory))
        // Round the number of groups up to a multiple of the threads, so shares are equal.
        var groups = (s.batch + group - 1) / group
        if groups > threads { groups = (groups + threads - 1) / threads * threads }
        return (s.batch + groups - 1) / groups
    }

    /// Image groups are split among this many workers, each running its own single-threaded
    /// sgemm: on two cores that beats one two-threaded sgemm per group (docs/benchmarks.md),
    /// because the im2col, transposes and sgemm's own packing all run in parallel without a
    /// barrier between them.
    static func workers(_ s: Conv2dShape) -> Int {
        let group = groupSize(s)
        return Parallel.workerCount(for: (s.batch + group - 1) / group)
    }

    /// Floats of im2col scratch space one worker needs: the group's column matrix and staging.
    static func workerWorkspaceCount(_ s: Conv2dShape) -> Int {
        let g = s.window, group = groupSize(s)
        let columns = g.isIdentity && group == 1 ? 0 : g.columnRows * g.columnCols * group
        let staging = group > 1 ? s.outChannels * g.columnCols * group : 0
        return columns + staging
    }

    /// Floats of a Winograd convolution's transformed weights (or weight gradient), which one
    /// pass at a time holds at the start of the workspace.
    static func winogradWeightsCount(_ s: Conv2dShape) -> Int {
        WinogradPass.allCases.map { Winograd.weightCount(s, $0.tile(s)) }.max() ?? 0
    }

    /// Under bf16, a Winograd convolution rounds its raw operands (input, weights, and in the
    /// backward pass dy) to bf16 and then runs in float32: rounding the transformed operands
    /// instead, as the matrix products would, moved F(4×4)'s gradients by 10× the error a bf16
    /// product may make. So the result is the product of bf16 operands, accumulated in float32.
    static func roundsOperands(_ s: Conv2dShape) -> Bool {
        ComputePrecision.current == .bf16 && Winograd.applies(s) && !usesOneDNN(s)
    }

    /// Under bf16 on a CPU with bf16 instructions, every convolution runs through oneDNN's bf16
    /// primitives (its own scratch space: no workspace from the caller), where oneDNN has
    /// primitives for all three passes of the shape.
    public static func usesOneDNN(_ s: Conv2dShape) -> Bool {
        ComputePrecision.current == .bf16 && BF16GEMM.backend == .oneDNN && OneDNNConvolution.isAvailable(s, .bf16)
    }

    /// Floats of scratch space the forward pass needs.
    public static func workspaceCount(_ s: Conv2dShape) -> Int {
        if usesOneDNN(s) { return 0 }
        if Winograd.applies(s) {
            return winogradWeightsCount(s) + WinogradPass.forward.schedule(s).scratchCount
                + (roundsOperands(s) ? s.inputCount + s.weightCount : 0)
        }
        return workerWorkspaceCount(s) * workers(s)
    }

    /// Floats of scratch space the backward pass needs (enough for the forward pass too): with
    /// im2col, the forward's and a weight-gradient partial sum for every worker but the first.
    public static func backwardWorkspaceCount(_ s: Conv2dShape) -> Int {
        if usesOneDNN(s) { return 0 }
        if Winograd.applies(s) {
            return winogradWeightsCount(s) + (WinogradPass.allCases.map { $0.schedule(s).scratchCount }.max() ?? 0)
                + (roundsOperands(s) ? s.inputCount + s.weightCount + s.outputCount : 0)
        }
        return workspaceCount(s) + (workers(s) - 1) * s.weightCount
    }

    /// Which Winograd tile each pass uses. The forward pass keeps F(2×2, 3×3): its values feed
    /// every later layer and the batch statistics, and with F(4×4, 3×3)'s larger rounding there
    /// ResNet-18's gradient statistics moved by up to 3e-4 against PyTorch's (the golden case
    /// allows 1e-4). The gradients take the tile with fewer products (F(4×4, 3×3) for every
    /// ResNet layer) and stay within the golden tolerances.
    enum WinogradPass: CaseIterable {
        case forward, inputGradient, weightGradient
        func tile(_ s: Conv2dShape) -> Winograd.Tile { self == .forward ? .two : Winograd.tile(for: s) }
        /// How the pass spreads over the workers (the input gradient convolves `dy`: the
        /// channels swap, the planes and so the schedule stay the same).
        func schedule(_ s: Conv2dShape) -> WinogradSchedule {
            WinogradSchedule(s, tile(s), weightGradient: self == .weightGradient)
        }
    }

    /// The im2col groups of images over the workers (`forEachImageGroup`).
    private static func forEachGroup(_ s: Conv2dShape,
                                     _ body: (_ worker: Int, _ start: Int, _ count: Int, _ first: Bool) -> Void) {
        forEachImageGroup(batch: s.batch, groupSize: groupSize(s), maxWorkers: workers(s), body)
    }

    /// `y = conv(x, w) + b`; `y` is `[N, O, OH, OW]`.
    public static func forward(_ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                               workspace: UnsafeMutablePointer<Float>?) {
        let g = s.window
        let k = g.columnRows, p = g.columnCols
        let inPlane = s.inChannels * s.height * s.width
        if usesOneDNN(s) {
            OneDNNConvolution.require(OneDNNConvolution.forward(.bf16, s, x: x, weight: weight, bias: bias, y: y), s)
            return
        }
        if roundsOperands(s) {
            let rounded = workspace! + winogradWeightsCount(s) + WinogradPass.forward.schedule(s).scratchCount
            BFloat16.roundInParallel(x, count: s.inputCount, into: rounded)
            BFloat16.roundInParallel(weight, count: s.weightCount, into: rounded + s.inputCount)
            ComputePrecision.with(.fp32) {
                forward(s, x: rounded, weight: rounded + s.inputCount, bias: bias, y: y, workspace: workspace)
            }
            return
        }
        if Winograd.applies(s) {
            let u = workspace!
            let tile = WinogradPass.forward.tile(s)
            Winograd.transformWeights(weight, outChannels: s.outChannels, inChannels: s.inChannels, tile: tile, into: u)
            WinogradPass.forward.schedule(s).forEachGroup(batch: s.batch, scratch: u + winogradWeightsCount(s)) { _, start, n, _, scratch in
                Winograd.convolve(s, tile, images: n, x: x + start * inPlane, u: u, bias: bias, y: y + start * s.outChannels * p,
                                  scratch: scratch)
            }
            return
        }
        let perWorker = workerWorkspaceCount(s), group = groupSize(s)
        forEachGroup(s) { worker, start, n, _ in
            let images = x + start * inPlane
            let out = y + start * s.outChannels * p
            let scratch = workspace.map { $0 + worker * perWorker }
            if n == 1 && g.isIdentity {
                BLAS.sgemm(m: s.outChannels, n: p, k: k, a: weight, lda: k, b: images, ldb: p, c: out, ldc: p)
            } else if n == 1 {
                im2col(images, g, scratch!)
                BLAS.sgemm(m: s.outChannels, n: p, k: k, a: weight, lda: k, b: scratch!, ldb: p, c: out, ldc: p)
            } else {
                // cols [K, n·P] → staging [O, n·P] → y [n, O, P]
                let cols = scratch!, staging = scratch! + k * p * group
                columns(of: images, count: n, s, into: cols)
                BLAS.sgemm(m: s.outChannels, n: n * p, k: k, a: weight, lda: k, b: cols, ldb: n * p, c: staging, ldc: n * p)
                transposeBlocks(staging, rows: s.outChannels, blocks: n, block: p, into: out)
            }
            if let bias { for i in 0..<n { addChannelBias(out + i * s.outChannels * p, bias, channels: s.outChannels, plane: p) } }
        }
    }

    /// Gradients of `sum(y * dy)`: `dx` is overwritten; `dWeight` and `dBias` are accumulated into.
    public static func backward(_ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                                dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
                                workspace: UnsafeMutablePointer<Float>?) {
        if let dBias { sumChannels(dy, into: dBias, batch: s.batch, channels: s.outChannels, plane: s.outH * s.outW) }
        if usesOneDNN(s) {
            OneDNNConvolution.require(OneDNNConvolution.backward(.bf16, s, x: x, weight: weight, dy: dy, dx: dx, dWeight: dWeight), s)
            return
        }
        if roundsOperands(s) {
            let rounded = workspace! + winogradWeightsCount(s) + (WinogradPass.allCases.map { $0.schedule(s).scratchCount }.max() ?? 0)
            let (x16, w16, dy16) = (rounded, rounded + s.inputCount, rounded + s.inputCount + s.weightCount)
            BFloat16.roundInParallel(x, count: s.inputCount, into: x16)
            BFloat16.roundInParallel(weight, count: s.weightCount, into: w16)
            BFloat16.roundInParallel(dy, count: s.outputCount, into: dy16)
            ComputePrecision.with(.fp32) {
                winogradBackward(s, x: x16, weight: w16, dy: dy16, dx: dx, dWeight: dWeight, workspace: workspace!)
            }
            return
        }
        if Winograd.applies(s) {
            winogradBackward(s, x: x, weight: weight, dy: dy, dx: dx, dWeight: dWeight, workspace: workspace!)
            return
        }
        im2colBackward(s, x: x, weight: weight, dy: dy, dx: dx, dWeight: dWeight, workspace: workspace)
    }

    /// The backward pass through im2col and sgemm.
    private static func im2colBackward(_ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                       dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                                       dWeight: UnsafeMutablePointer<Float>?, workspace: UnsafeMutablePointer<Float>?) {
        let g = s.window
        let k = g.columnRows, p = g.columnCols
        let inPlane = s.inChannels * s.height * s.width
        let perWorker = workerWorkspaceCount(s), group = groupSize(s)
        // Worker 0 accumulates into dWeight; the others into partial sums (overwritten by their
        // first group) added at the end.
        let extraWorkers = dWeight == nil ? 0 : workers(s) - 1
        let partials = workspace.map { $0 + workspaceCount(s) }
        forEachGroup(s) { worker, start, n, first in
            let images = x + start * inPlane
            let grads = dy + start * s.outChannels * p
            let scratch = workspace.map { $0 + worker * perWorker }
            let dW = dWeight.map { worker == 0 ? $0 : partials! + (worker - 1) * s.weightCount }
            let beta: Float = worker > 0 && first ? 0 : 1
            if n == 1 {
                if let dW {
                    let cols: UnsafePointer<Float>
                    if g.isIdentity { cols = images } else {
                        im2col(images, g, scratch!)
                        cols = UnsafePointer(scratch!)
                    }
                    // dW[O, K] += dy[O, P] · cols[K, P]ᵀ
                    BLAS.sgemm(transB: true, m: s.outChannels, n: k, k: p, a: grads, lda: p, b: cols, ldb: p, beta: beta, c: dW, ldc: k)
                }
                if let dx {
                    let dImage = dx + start * inPlane
                    if g.isIdentity {
                        BLAS.sgemm(transA: true, m: k, n: p, k: s.outChannels, a: weight, lda: k, b: grads, ldb: p, c: dImage, ldc: p)
                    } else {
                        // dcols[K, P] = Wᵀ[K, O] · dy[O, P], folded back into the image.
                        BLAS.sgemm(transA: true, m: k, n: p, k: s.outChannels, a: weight, lda: k, b: grads, ldb: p,
                                   c: scratch!, ldc: p)
                        dImage.update(repeating: 0, count: inPlane)
                        col2im(scratch!, g, dImage)
                    }
                }
                return
            }
            // dy [n, O, P] → staging [O, n·P]
            let cols = scratch!, staging = scratch! + k * p * group
            untransposeBlocks(grads, rows: s.outChannels, blocks: n, block: p, into: staging)
            if let dW {
                columns(of: images, count: n, s, into: cols)
                BLAS.sgemm(transB: true, m: s.outChannels, n: k, k: n * p, a: staging, lda: n * p, b: cols, ldb: n * p,
                           beta: beta, c: dW, ldc: k)
            }
            if let dx {
                // dcols[K, n·P] = Wᵀ · dy, then back to images.
                BLAS.sgemm(transA: true, m: k, n: n * p, k: s.outChannels, a: weight, lda: k, b: staging, ldb: n * p,
                           c: cols, ldc: n * p)
                let dImages = dx + start * inPlane
                if g.isIdentity {
                    transposeBlocks(cols, rows: k, blocks: n, block: p, into: dImages)
                } else {
                    dImages.update(repeating: 0, count: n * inPlane)
                    col2im(cols, count: n, g, dImages, imageStride: inPlane, rowStride: n * p)
                }
            }
        }
        if let dWeight {
            for w in 0..<extraWorkers { BLAS.axpy(s.weightCount, alpha: 1, x: partials! + w * s.weightCount, y: dWeight) }
        }
    }

    /// The backward pass of a Winograd convolution: `dx` is the convolution of `dy` with the
    /// weights transposed and turned by 180°; then the weight gradient is summed in the
    /// transformed domain over every group and transformed back once. Each pass holds its
    /// transformed weights (or weight gradient) at the start of the workspace in turn.
    private static func winogradBackward(_ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                         dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                                         dWeight: UnsafeMutablePointer<Float>?, workspace: UnsafeMutablePointer<Float>) {
        let inPlane = s.inChannels * s.height * s.width, outPlane = s.outChannels * s.outH * s.outW
        let scratch = workspace + winogradWeightsCount(s)
        if let dx {
            // Here the conv's inputs are dy's O channels and its outputs dx's I channels.
            let flipped = Conv2dShape(batch: s.batch, inChannels: s.outChannels, height: s.outH, width: s.outW,
                                      outChannels: s.inChannels, kernelH: 3, kernelW: 3, padH: 1, padW: 1)
            let tile = WinogradPass.inputGradient.tile(s)
            Winograd.transformWeights(weight, outChannels: s.inChannels, inChannels: s.outChannels, flipped: true,
                                      tile: tile, into: workspace)
            WinogradPass.inputGradient.schedule(s).forEachGroup(batch: s.batch, scratch: scratch) { _, start, n, _, groupScratch in
                Winograd.convolve(flipped, tile, images: n, x: dy + start * outPlane, u: workspace, bias: nil,
                                  y: dx + start * inPlane, scratch: groupScratch)
            }
        }
        if let dWeight, s.batch > 0 {
            // The first worker sums into the workspace's start, the others into partial sums.
            let tile = WinogradPass.weightGradient.tile(s), schedule = WinogradPass.weightGradient.schedule(s)
            let count = Winograd.weightCount(s, tile)
            let workers = schedule.forEachGroup(batch: s.batch, scratch: scratch) { worker, start, n, first, groupScratch in
                Winograd.accumulateWeightGradient(s, tile, images: n, x: x + start * inPlane, dy: dy + start * outPlane,
                                                  du: worker == 0 ? workspace : schedule.partialSum(worker, in: scratch, count: count),
                                                  overwrite: first, scratch: groupScratch)
            }
            for worker in 1..<workers {
                BLAS.axpy(count, alpha: 1, x: schedule.partialSum(worker, in: scratch, count: count), y: workspace)
            }
            Winograd.accumulateWeightGradient(fromTransformed: workspace, outChannels: s.outChannels, inChannels: s.inChannels,
                                              tile: tile, into: dWeight)
        }
    }

    /// The column matrix `[K, n·P]` of `n` images (for a 1x1 stride-1 conv, the images side by side).
    static func columns(of images: UnsafePointer<Float>, count n: Int, _ s: Conv2dShape, into cols: UnsafeMutablePointer<Float>) {
        let g = s.window
        if g.isIdentity {
            untransposeBlocks(images, rows: s.inChannels, blocks: n, block: g.columnCols, into: cols)
        } else {
            im2col(images, count: n, imageStride: s.inChannels * s.height * s.width, g, cols, rowStride: n * g.columnCols)
        }
    }
}

/// `[rows, blocks·block]` → `[blocks, rows, block]` (the sgemm result of a group back to NCHW).
func transposeBlocks(_ src: UnsafePointer<Float>, rows: Int, blocks: Int, block: Int, into dst: UnsafeMutablePointer<Float>) {
    Parallel.forEach(blocks * rows, grain: max(1, 16384 / max(block, 1))) { i in
        let (b, r) = (i / rows, i % rows)
        (dst + (b * rows + r) * block).update(from: src + r * blocks * block + b * block, count: block)
    }
}

/// `[blocks, rows, block]` → `[rows, blocks·block]`.
func untransposeBlocks(_ src: UnsafePointer<Float>, rows: Int, blocks: Int, block: Int, into dst: UnsafeMutablePointer<Float>) {
    Parallel.forEach(blocks * rows, grain: max(1, 16384 / max(block, 1))) { i in
        let (b, r) = (i / rows, i % rows)
        (dst + r * blocks * block + b * block).update(from: src + (b * rows + r) * block, count: block)
    }
}

/// `out[c, p] += bias[c]` for each channel plane.
@inline(__always)
func addChannelBias(_ out: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, channels: Int, plane: Int) {
    for c in 0..<channels {
        let b = bias[c]
        let row = out + c * plane
        for i in 0..<plane { row[i] += b }
    }
}

/// `into[c] += sum over n, p of values[n, c, p]`.
public func sumChannels(_ values: UnsafePointer<Float>, into: UnsafeMutablePointer<Float>, batch: Int, channels: Int, plane: Int) {
    Parallel.forEach(channels, grain: max(1, 8192 / max(plane * batch, 1))) { c in
        var total: Double = 0
        for n in 0..<batch {
            let row = values + (n * channels + c) * plane
            var partial: Float = 0
            for i in 0..<plane { partial += row[i] }
            total += Double(partial)
        }
        into[c] += Float(total)
    }
}
