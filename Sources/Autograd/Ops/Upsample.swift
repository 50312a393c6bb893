import Kernels

/// `nn.UpsamplingBilinear2d(scale_factor=scale)`: bilinear with `align_corners=True`.
public func upsampleBilinear(_ x: Tensor, scale: Int = 2) -> Tensor {
    precondition(x.rank == 4, "upsample_bilinear2d: expects NCHW input, got \(x.shape)")
    return upsampleBilinear(x, height: x.shape[2] * scale, width: x.shape[3] * scale)
}

/// Bilinear resize to `height`×`width` with `align_corners=True`.
public func upsampleBilinear(_ x: Tensor, height outH: Int, width outW: Int) -> Tensor {
    precondition(x.rank == 4 && outH > 0 && outW > 0, "upsample_bilinear2d: input \(x.shape) to \(outH)x\(outW)")
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let y = Tensor(uninitialized: [x.shape[0], x.shape[1], outH, outW])
    UpsampleKernel.bilinearForward(x: x.pointer, planes: planes, height: h, width: w, outH: outH, outW: outW, y: y.pointer)
    let shape = x.shape
    return y.record(.upsampleBilinear, inputs: [x]) { dy in
        let dx = Tensor(uninitialized: shape)
        UpsampleKernel.bilinearBackward(dy: dy.pointer, planes: planes, height: h, width: w, outH: outH, outW: outW,
                                        dx: dx.pointer)
        return [dx]
    }
}
