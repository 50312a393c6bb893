import Kernels

/// `F.conv2d(x, weight, bias, stride, padding)`; weight `[out, in, kh, kw]`.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
    precondition(x.rank == 4 && weight.rank == 4 && x.shape[1] == weight.shape[1],
                 "conv2d: input \(x.shape) does not fit weight \(weight.shape)")
    precondition(bias == nil || bias!.shape == [weight.shape[0]], "conv2d: bias \(bias!.shape) for weight \(weight.shape)")
    let s = Conv2dShape(batch: x.shape[0], inChannels: x.shape[1], height: x.shape[2], width: x.shape[3],
                        outChannels: weight.shape[0], kernelH: weight.shape[2], kernelW: weight.shape[3],
                        strideH: stride, strideW: stride, padH: padding, padW: padding)
    precondition(s.outH > 0 && s.outW > 0, "conv2d: input \(x.shape) is smaller than kernel \(weight.shape) with padding \(padding)")
    let y = Tensor(uninitialized: [s.batch, s.outChannels, s.outH, s.outW])
    FLOPCounter.add(s.forwardFLOPs)
    let workspace = Workspace(count: Conv2dKernel.workspaceCount(s))
    Conv2dKernel.forward(s, x: x.pointer, weight: weight.pointer, bias: bias?.pointer, y: y.pointer,
                         workspace: workspace.pointer)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return y.record(.conv2d(stride: stride, padding: padding), inputs: inputs) { dy in
        let dx = x.requiresGrad ? Tensor(uninitialized: x.shape) : nil
        let dw = weight.additiveGradientTarget()
        let db = bias?.additiveGradientTarget()
        let workspace = Workspace(count: Conv2dKernel.backwardWorkspaceCount(s))
        Conv2dKernel.backward(s, x: x.pointer, weight: weight.pointer, dy: dy.pointer, dx: dx?.pointer,
                              dWeight: dw?.pointer, dBias: db?.pointer, workspace: workspace.pointer)
        return bias == nil ? [dx, weight.gradientToReturn(dw)] : [dx, weight.gradientToReturn(dw), bias!.gradientToReturn(db)]
    }
}

/// `F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)`; weight `[in, out, kh, kw]`.
public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                            outputPadding: Int = 0) -> Tensor {
    precondition(x.rank == 4 && weight.rank == 4 && x.shape[1] == weight.shape[0],
                 "conv_transpose2d: input \(x.shape) does not fit weight \(weight.shape)")
    precondition(bias == nil || bias!.shape == [weight.shape[1]], "conv_transpose2d: bias \(bias!.shape) for weight \(weight.shape)")
    let s = ConvTranspose2dShape(batch: x.shape[0], inChannels: x.shape[1], height: x.shape[2], width: x.shape[3],
                                 outChannels: weight.shape[1], kernelH: weight.shape[2], kernelW: weight.shape[3],
                                 strideH: stride, strideW: stride, padH: padding, padW: padding,
                                 outputPadH: outputPadding, outputPadW: outputPadding)
    let y = Tensor(uninitialized: [s.batch, s.outChannels, s.outH, s.outW])
    FLOPCounter.add(2 * Double(s.batch * s.inChannels * s.height * s.width) * Double(s.outChannels * s.kernelH * s.kernelW))
    let workspace = Workspace(count: ConvTranspose2dKernel.workspaceCount(s))
    ConvTranspose2dKernel.forward(s, x: x.pointer, weight: weight.pointer, bias: bias?.pointer, y: y.pointer,
                                  workspace: workspace.pointer!)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return y.record(.convTranspose2d(stride: stride, padding: padding, outputPadding: outputPadding), inputs: inputs) { dy in
        let dx = x.requiresGrad ? Tensor(uninitialized: x.shape) : nil
        let dw = weight.additiveGradientTarget()
        let db = bias?.additiveGradientTarget()
        let workspace = Workspace(count: ConvTranspose2dKernel.workspaceCount(s))
        ConvTranspose2dKernel.backward(s, x: x.pointer, weight: weight.pointer, dy: dy.pointer, dx: dx?.pointer,
                                       dWeight: dw?.pointer, dBias: db?.pointer, workspace: workspace.pointer!)
        return bias == nil ? [dx, weight.gradientToReturn(dw)] : [dx, weight.gradientToReturn(dw), bias!.gradientToReturn(db)]
    }
}
