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
    FLOPCounter.add(s.forwardFLOPs)
    if let blocked = blockedConvolution(x, s) {
        return conv2dBlocked(x, weight: weight, bias: bias, s, element: blocked.element, xFormat: blocked.source,
                             stride: stride, padding: padding)
    }
    let y = Tensor(uninitialized: [s.batch, s.outChannels, s.outH, s.outW])
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

/// Where activations are blocked (`ActivationFormat`) and the output's channels fill blocks,
/// the convolution runs through oneDNN on blocked tensors: its element type and the format it
/// reads x in (blocked, or plain where x's channels do not fill blocks, as an RGB input).
private func blockedConvolution(_ x: Tensor, _ s: Conv2dShape) -> (element: OneDNN.Element, source: TensorFormat)? {
    let format = ActivationFormat.current
    guard case .blocked(let element) = format, format.holds([s.batch, s.outChannels, s.outH, s.outW]) else { return nil }
    let source: TensorFormat = format.holds(x.shape) ? format : .plain
    guard OneDNNConvolution.isAvailable(s, element, source: source, result: format) else { return nil }
    return (element, source)
}

/// `conv2d` with its output blocked in `element` and x read in `xFormat` (converted to it
/// where it is held otherwise); the input gradient comes back in that format, the weight and
/// bias gradients plain.
private func conv2dBlocked(_ x: Tensor, weight: Tensor, bias: Tensor?, _ s: Conv2dShape, element: OneDNN.Element,
                           xFormat: TensorFormat, stride: Int, padding: Int) -> Tensor {
    let yFormat = TensorFormat.blocked(element)
    let source = x.converted(to: xFormat)
    let y = Tensor(uninitialized: [s.batch, s.outChannels, s.outH, s.outW], format: yFormat)
    OneDNNConvolution.require(OneDNNConvolution.forward(element, s, x: UnsafeRawPointer(source.rawPointer), xFormat,
                                                        weight: weight.pointer, bias: bias?.pointer, y: y.rawPointer, yFormat), s)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    let needsInputGrad = x.requiresGrad
    return y.record(.conv2d(stride: stride, padding: padding), inputs: inputs) { upstream in
        let dy = upstream.converted(to: yFormat)
        let dx = needsInputGrad ? Tensor(uninitialized: s.inputShape, format: xFormat) : nil
        let dw = weight.additiveGradientTarget()
        OneDNNConvolution.require(OneDNNConvolution.backward(element, s, x: UnsafeRawPointer(source.rawPointer), xFormat,
                                                             weight: weight.pointer, dy: UnsafeRawPointer(dy.rawPointer), yFormat,
                                                             dx: dx?.rawPointer, dWeight: dw?.pointer), s)
        guard let bias else { return [dx, weight.gradientToReturn(dw)] }
        let db = bias.additiveGradientTarget()
        if let db { sumChannels(dy.pointer, into: db.pointer, batch: s.batch, channels: s.outChannels, plane: s.outH * s.outW) }
        return [dx, weight.gradientToReturn(dw), bias.gradientToReturn(db)]
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
