/// 2-D convolution (cross-correlation, as PyTorch's `conv2d`) on NCHW buffers,
/// lowered to one sgemm per image over the im2col matrix.
public struct Conv2dShape: Equatable, Sendable {
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
    public var outputCount: Int { batch * outChannels * outH * outW }
    public var weightCount: Int { outChannels * inChannels * kernelH * kernelW }
    /// Multiply-adds of one forward pass, times two.
    public var forwardFLOPs: Double { 2 * Double(outputCount) * Double(inChannels * kernelH * kernelW) }
}

public enum Conv2dKernel {
    /// Floats of scratch space the forward and backward passes need.
    public static func workspaceCount(_ s: Conv2dShape) -> Int {
        s.window.isIdentity ? 0 : s.window.columnRows * s.window.columnCols
    }

    /// `y = conv(x, w) + b`; `y` is `[N, O, OH, OW]`.
    public static func forward(_ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                               workspace: UnsafeMutablePointer<Float>?) {
        let g = s.window
        let k = g.columnRows, p = g.columnCols
        let inPlane = s.inChannels * s.height * s.width
        for n in 0..<s.batch {
            let image = x + n * inPlane
            let cols: UnsafePointer<Float>
            if g.isIdentity {
                cols = image
            } else {
                im2col(image, g, workspace!)
                cols = UnsafePointer(workspace!)
            }
            let out = y + n * s.outChannels * p
            BLAS.sgemm(m: s.outChannels, n: p, k: k, a: weight, lda: k, b: cols, ldb: p, c: out, ldc: p)
            if let bias { addChannelBias(out, bias, channels: s.outChannels, plane: p) }
        }
    }

    /// Gradients of `sum(y * dy)`: `dx` is overwritten; `dWeight` and `dBias` are accumulated into.
    public static func backward(_ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                                dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
                                workspace: UnsafeMutablePointer<Float>?) {
        let g = s.window
        let k = g.columnRows, p = g.columnCols
        let inPlane = s.inChannels * s.height * s.width
        if let dBias { sumChannels(dy, into: dBias, batch: s.batch, channels: s.outChannels, plane: p) }
        for n in 0..<s.batch {
            let image = x + n * inPlane
            let grad = dy + n * s.outChannels * p
            if let dWeight {
                let cols: UnsafePointer<Float>
                if g.isIdentity {
                    cols = image
                } else {
                    im2col(image, g, workspace!)
                    cols = UnsafePointer(workspace!)
                }
                // dW[O, K] += dy[O, P] · cols[K, P]ᵀ
                BLAS.sgemm(transB: true, m: s.outChannels, n: k, k: p, a: grad, lda: p, b: cols, ldb: p,
                           beta: 1, c: dWeight, ldc: k)
            }
            if let dx {
                let dImage = dx + n * inPlane
                if g.isIdentity {
                    BLAS.sgemm(transA: true, m: k, n: p, k: s.outChannels, a: weight, lda: k, b: grad, ldb: p,
                               c: dImage, ldc: p)
                } else {
                    // dcols[K, P] = Wᵀ[K, O] · dy[O, P], folded back into the image.
                    BLAS.sgemm(transA: true, m: k, n: p, k: s.outChannels, a: weight, lda: k, b: grad, ldb: p,
                               c: workspace!, ldc: p)
                    dImage.update(repeating: 0, count: inPlane)
                    col2im(workspace!, g, dImage)
                }
            }
        }
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
func sumChannels(_ values: UnsafePointer<Float>, into: UnsafeMutablePointer<Float>, batch: Int, channels: Int, plane: Int) {
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
