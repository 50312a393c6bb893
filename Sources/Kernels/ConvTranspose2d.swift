/// Transposed convolution (PyTorch's `conv_transpose2d`, groups 1, dilation 1): the adjoint
/// of `conv2d`. The weight is `[inChannels, outChannels, kh, kw]`, as PyTorch stores it.
public struct ConvTranspose2dShape: Equatable, Sendable {
    public var batch, inChannels, height, width, outChannels: Int
    public var kernelH, kernelW, strideH, strideW, padH, padW, outputPadH, outputPadW: Int

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1, padH: Int = 0, padW: Int = 0,
                outputPadH: Int = 0, outputPadW: Int = 0) {
        self.batch = batch; self.inChannels = inChannels; self.height = height; self.width = width
        self.outChannels = outChannels; self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW; self.padH = padH; self.padW = padW
        self.outputPadH = outputPadH; self.outputPadW = outputPadW
    }

    public var outH: Int { (height - 1) * strideH - 2 * padH + kernelH + outputPadH }
    public var outW: Int { (width - 1) * strideW - 2 * padW + kernelW + outputPadW }

    /// The convolution whose input is this layer's output and whose output is this layer's input.
    var window: WindowGeometry {
        WindowGeometry(channels: outChannels, height: outH, width: outW, kernelH: kernelH, kernelW: kernelW,
                       strideH: strideH, strideW: strideW, padH: padH, padW: padW, outH: height, outW: width)
    }
    public var outputCount: Int { batch * outChannels * outH * outW }
}

public enum ConvTranspose2dKernel {
    public static func workspaceCount(_ s: ConvTranspose2dShape) -> Int { s.window.columnRows * s.window.columnCols }

    public static func forward(_ s: ConvTranspose2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                               workspace: UnsafeMutablePointer<Float>) {
        let g = s.window
        let k = g.columnRows, p = g.columnCols
        let outPlane = s.outChannels * s.outH * s.outW
        for n in 0..<s.batch {
            // cols[Cout·kk, HW] = Wᵀ[Cout·kk, Cin] · x[Cin, HW]
            BLAS.sgemm(transA: true, m: k, n: p, k: s.inChannels, a: weight, lda: k,
                       b: x + n * s.inChannels * p, ldb: p, c: workspace, ldc: p)
            let out = y + n * outPlane
            out.update(repeating: 0, count: outPlane)
            col2im(workspace, g, out)
            if let bias { addChannelBias(out, bias, channels: s.outChannels, plane: s.outH * s.outW) }
        }
    }

    public static func backward(_ s: ConvTranspose2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                                dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
                                workspace: UnsafeMutablePointer<Float>) {
        let g = s.window
        let k = g.columnRows, p = g.columnCols
        let outPlane = s.outChannels * s.outH * s.outW
        if let dBias { sumChannels(dy, into: dBias, batch: s.batch, channels: s.outChannels, plane: s.outH * s.outW) }
        for n in 0..<s.batch {
            im2col(dy + n * outPlane, g, workspace)
            let image = x + n * s.inChannels * p
            if let dx {
                // dx[Cin, HW] = W[Cin, Cout·kk] · dcols[Cout·kk, HW]
                BLAS.sgemm(m: s.inChannels, n: p, k: k, a: weight, lda: k, b: workspace, ldb: p,
                           c: dx + n * s.inChannels * p, ldc: p)
            }
            if let dWeight {
                // dW[Cin, Cout·kk] += x[Cin, HW] · dcols[Cout·kk, HW]ᵀ
                BLAS.sgemm(transB: true, m: s.inChannels, n: k, k: p, a: image, lda: p, b: workspace, ldb: p,
                           beta: 1, c: dWeight, ldc: k)
            }
        }
    }
}
