import CDNNL
import Dispatch
import Foundation

/// Convolutions through oneDNN's convolution primitives, forward, backward data and backward
/// weights, for fp32 or bf16 operands (one code path, the element type a parameter). Our side
/// of each tensor is plain float32 NCHW or blocked (`TensorFormat`): blocked tensors are what the
/// primitive reads and writes as they are (bf16-mixed's activations); plain ones are reordered
/// into the layout and type the primitive chose (format `any`) and results reordered back.
/// Products accumulate in float32; the weight gradient is float32, added into ours. Primitives
/// and reorders are created once per shape and pair of formats, and run safely from any thread
/// (`OneDNN.Primitive`). Plain 1×1 stride-1 convolutions are matrix products on our own layout
/// instead (`OneDNNPointwiseConvolution`).
public enum OneDNNConvolution {
    public enum Pass: Hashable, Sendable { case forward, backwardData, backwardWeights }

    struct Key: Hashable {
        var shape: Conv2dShape, element: OneDNN.Element, pass: Pass, hasBias: Bool
        /// The formats of our input and output tensors (x and y; dx and dy alike).
        var source: TensorFormat = .plain, result: TensorFormat = .plain
    }

    /// One pass's primitive, the layouts it chose for its three tensors, and the reorders
    /// between those and ours (nil where they are the same).
    final class Plan: @unchecked Sendable {
        let primitive: OneDNN.Primitive
        /// The primitive's layouts: source (x or dy), weights (w, or dy for the weight
        /// gradient), result (y, dx or dW).
        let source: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, result: dnnl_memory_desc_t
        let toSource: OneDNNReorder?, toWeights: OneDNNReorder?, fromResult: OneDNNReorder?
        /// The weight gradient's `[O, I, kh, kw]` when the primitive writes it in `OIhw16i16o`,
        /// which `BlockedWeightGradient` adds into ours (instead of `fromResult`).
        let blockedWeightGradient: [Int]?
        init?(primitive: OneDNN.Primitive, source: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, result: dnnl_memory_desc_t,
              plainSource: dnnl_memory_desc_t, plainWeights: dnnl_memory_desc_t, plainResult: dnnl_memory_desc_t,
              weightGradientDims: [Int]?) {
            self.primitive = primitive; self.source = source; self.weights = weights; self.result = result
            func reorder(_ from: dnnl_memory_desc_t, _ to: dnnl_memory_desc_t, accumulate: Bool = false) -> OneDNNReorder?? {
                if !accumulate && OneDNN.equal(from, to) { return .some(nil) }
                return OneDNNReorder(from: from, to: to, accumulate: accumulate).map { .some($0) }
            }
            blockedWeightGradient = weightGradientDims.flatMap { dims in
                OneDNN.taggedDesc(dims, .f32, dnnl_ABcd16b16a).flatMap { OneDNN.equal($0, result) ? dims : nil }
            }
            guard let toSource = reorder(plainSource, source), let toWeights = reorder(plainWeights, weights) else { return nil }
            if blockedWeightGradient != nil {
                fromResult = nil
            } else {
                guard let fromResult = reorder(result, plainResult, accumulate: weightGradientDims != nil) else { return nil }
                self.fromResult = fromResult
            }
            self.toSource = toSource; self.toWeights = toWeights
        }

        /// The primitive writes our tensor itself (same layout, nothing to add).
        var producesOurs: Bool { fromResult == nil && blockedWeightGradient == nil }

        /// Brings the primitive's result (at `produced`) into ours (at `target`): a reorder, the
        /// weight gradient's accumulation, or nothing when the layouts are the same.
        func deliver(_ produced: UnsafeMutableRawPointer, _ target: UnsafeMutableRawPointer, threads: Int) -> Bool {
            if let dims = blockedWeightGradient {
                let start = System.now()
                BlockedWeightGradient.accumulate(produced.assumingMemoryBound(to: Float.self), into: target.assumingMemoryBound(to: Float.self),
                                                 outChannels: dims[0], inChannels: dims[1], spatial: dims[2] * dims[3])
                OneDNNStatistics.addReorder(bytes: dims.reduce(4, *), seconds: System.now() - start)
                return true
            }
            return fromResult?.run(produced, target, threads: threads) ?? true
        }
    }

    nonisolated(unsafe) private static var plans: [Key: Plan?] = [:]
    private static let lock = NSLock()

    static func plan(_ key: Key) -> Plan? {
        lock.withLock {
            if let known = plans[key] { return known }
            let made = makePlan(key)
            plans[key] = made
            return made
        }
    }

    /// oneDNN has primitives (and reorders) for all three passes of `s` in `element`; decided
    /// once per shape, when the primitives are made.
    public static func isAvailable(_ s: Conv2dShape, _ element: OneDNN.Element, source: TensorFormat = .plain,
                                   result: TensorFormat = .plain) -> Bool {
        [Pass.forward, .backwardData, .backwardWeights].allSatisfy {
            plan(Key(shape: s, element: element, pass: $0, hasBias: false, source: source, result: result)) != nil
        }
    }

    /// Stops the process when a primitive oneDNN accepted failed to run (out of memory, or a
    /// library fault): a wrong gradient must not train on silently.
    public static func require(_ succeeded: Bool, _ s: Conv2dShape) {
        guard !succeeded else { return }
        preconditionFailure("oneDNN failed to run a convolution it had accepted (\(s)); DDPTRAIN_BF16_BACKEND=emulated avoids oneDNN")
    }

    /// Threads a call uses: all of the rank's, or one inside another parallel loop's chunk.
    static var threads: Int { Parallel.isInsideChunk ? 1 : Parallel.threadCount }

    /// `y = conv(x, w) + b`, `y` overwritten; false when oneDNN has no primitive for it.
    public static func forward(_ element: OneDNN.Element, _ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) -> Bool {
        if OneDNNPointwiseConvolution.applies(s) {
            return OneDNNPointwiseConvolution.forward(element, s, x: x, weight: weight, bias: bias, y: y, threads: threads)
        }
        return forward(element, s, x: UnsafeRawPointer(x), .plain, weight: weight, bias: bias, y: UnsafeMutableRawPointer(y), .plain)
    }

    /// `forward` on x and y held in the given formats (plain or blocked in `element`).
    public static func forward(_ element: OneDNN.Element, _ s: Conv2dShape, x: UnsafeRawPointer, _ xFormat: TensorFormat,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               y: UnsafeMutableRawPointer, _ yFormat: TensorFormat) -> Bool {
        let key = Key(shape: s, element: element, pass: .forward, hasBias: bias != nil, source: xFormat, result: yFormat)
        guard let plan = plan(key) else { return false }
        return run(plan, source: x, weights: UnsafeRawPointer(weight), result: y) { source, weights, result in
            var args = [OneDNN.Argument(ddp_dnnl_arg_src(), plan.source, source),
                        OneDNN.Argument(ddp_dnnl_arg_weights(), plan.weights, weights),
                        OneDNN.Argument(ddp_dnnl_arg_dst(), plan.result, result)]
            if let bias, let desc = OneDNN.plainDesc([s.outChannels], .f32) {
                args.append(OneDNN.Argument(ddp_dnnl_arg_bias(), desc, bias))
            }
            return args
        }
    }

    /// `dx = conv_backward_data(dy, w)` (overwritten) and `dW += conv_backward_weights(x, dy)`,
    /// either optional; dy is converted once where both passes take it in the same layout.
    /// False when oneDNN has no primitive for them.
    public static func backward(_ element: OneDNN.Element, _ s: Conv2dShape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?) -> Bool {
        if OneDNNPointwiseConvolution.applies(s) {
            return OneDNNPointwiseConvolution.backward(element, s, x: x, weight: weight, dy: dy, dx: dx, dWeight: dWeight, threads: threads)
        }
        return backward(element, s, x: UnsafeRawPointer(x), .plain, weight: weight, dy: UnsafeRawPointer(dy), .plain,
                        dx: dx.map { UnsafeMutableRawPointer($0) }, dWeight: dWeight)
    }

    /// `backward` with x and dx held in `xFormat`, dy in `yFormat` (plain or blocked in `element`).
    public static func backward(_ element: OneDNN.Element, _ s: Conv2dShape, x: UnsafeRawPointer, _ xFormat: TensorFormat,
                                weight: UnsafePointer<Float>, dy: UnsafeRawPointer, _ yFormat: TensorFormat,
                                dx: UnsafeMutableRawPointer?, dWeight: UnsafeMutablePointer<Float>?) -> Bool {
        func key(_ pass: Pass) -> Key {
            Key(shape: s, element: element, pass: pass, hasBias: false, source: xFormat, result: yFormat)
        }
        let data = dx == nil ? nil : plan(key(.backwardData))
        let weights = dWeight == nil ? nil : plan(key(.backwardWeights))
        if (dx != nil && data == nil) || (dWeight != nil && weights == nil) { return false }
        // The weight gradient's dy is its "weights" operand; share it with backward data's source.
        var shared: UnsafeRawPointer?
        if let data, let weights, let reorder = data.toSource, weights.toWeights != nil, OneDNN.equal(data.source, weights.weights) {
            let buffer = ThreadScratch.current(.sharedOperand).reserve(OneDNN.bytes(data.source))
            guard reorder.run(dy, buffer, threads: threads) else { return false }
            shared = UnsafeRawPointer(buffer)
        }
        if let data, let dx {
            let ok = run(data, source: dy, weights: UnsafeRawPointer(weight), result: dx, sourceReady: shared) { source, weights, result in
                [OneDNN.Argument(ddp_dnnl_arg_diff_dst(), data.source, source),
                 OneDNN.Argument(ddp_dnnl_arg_weights(), data.weights, weights),
                 OneDNN.Argument(ddp_dnnl_arg_diff_src(), data.result, result)]
            }
            guard ok else { return false }
        }
        if let weights, let dWeight {
            return run(weights, source: x, weights: dy, result: UnsafeMutableRawPointer(dWeight), weightsReady: shared) { source, diffDst, result in
                [OneDNN.Argument(ddp_dnnl_arg_src(), weights.source, source),
                 OneDNN.Argument(ddp_dnnl_arg_diff_dst(), weights.weights, diffDst),
                 OneDNN.Argument(ddp_dnnl_arg_diff_weights(), weights.result, result)]
            }
        }
        return true
    }

    /// `dx = conv_backward_data(dy, w)`, `dx` overwritten; false when oneDNN has no primitive for it.
    public static func backwardData(_ element: OneDNN.Element, _ s: Conv2dShape, dy: UnsafePointer<Float>,
                                    weight: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) -> Bool {
        backward(element, s, x: dy, weight: weight, dy: dy, dx: dx, dWeight: nil)
    }

    /// `dW += conv_backward_weights(x, dy)`; false when oneDNN has no primitive for it.
    public static func backwardWeights(_ element: OneDNN.Element, _ s: Conv2dShape, x: UnsafePointer<Float>,
                                       dy: UnsafePointer<Float>, dWeight: UnsafeMutablePointer<Float>) -> Bool {
        backward(element, s, x: x, weight: x, dy: dy, dx: nil, dWeight: dWeight)
    }

    /// Reorders the two operands into the primitive's layouts (where they differ from ours and
    /// the caller has not done it: `sourceReady`, `weightsReady`), runs it, and reorders the
    /// result back into ours (the weight gradient's reorder adds).
    private static func run(_ plan: Plan, source: UnsafeRawPointer, weights: UnsafeRawPointer,
                            result: UnsafeMutableRawPointer, sourceReady: UnsafeRawPointer? = nil,
                            weightsReady: UnsafeRawPointer? = nil,
                            arguments: (UnsafeRawPointer, UnsafeRawPointer, UnsafeMutableRawPointer) -> [OneDNN.Argument]) -> Bool {
        let threads = threads
        let toSource = sourceReady == nil ? plan.toSource : nil, toWeights = weightsReady == nil ? plan.toWeights : nil
        let sizes = [toSource == nil ? 0 : OneDNN.bytes(plan.source), toWeights == nil ? 0 : OneDNN.bytes(plan.weights),
                     plan.producesOurs ? 0 : OneDNN.bytes(plan.result)].map { ($0 + 63) / 64 * 64 }
        let scratch = ThreadScratch.current(.operands).reserve(max(sizes.reduce(0, +), 64))
        let sourceData = sourceReady.map { UnsafeMutableRawPointer(mutating: $0) }
            ?? (toSource == nil ? UnsafeMutableRawPointer(mutating: source) : scratch)
        let weightsData = weightsReady.map { UnsafeMutableRawPointer(mutating: $0) }
            ?? (toWeights == nil ? UnsafeMutableRawPointer(mutating: weights) : scratch + sizes[0])
        let resultData = plan.producesOurs ? result : scratch + sizes[0] + sizes[1]
        if let toSource, !toSource.run(source, sourceData, threads: threads) { return false }
        if let toWeights, !toWeights.run(weights, weightsData, threads: threads) { return false }
        guard plan.primitive.execute(arguments(sourceData, weightsData, resultData), threads: threads) else { return false }
        return plan.producesOurs || plan.deliver(resultData, result, threads: threads)
    }

    private static func makePlan(_ key: Key) -> Plan? {
        let s = key.shape, e = key.element
        let srcDims = [s.batch, s.inChannels, s.height, s.width], weightDims = [s.outChannels, s.inChannels, s.kernelH, s.kernelW]
        let dstDims = [s.batch, s.outChannels, s.outH, s.outW]
        guard let engine = OneDNN.engine, s.batch > 0,
              var src = OneDNN.anyDesc(srcDims, e), var wei = OneDNN.anyDesc(weightDims, e), var dst = OneDNN.anyDesc(dstDims, e),
              var bias = OneDNN.plainDesc([s.outChannels], .f32),
              let plainSrc = FormatConversion.desc(srcDims, key.source), let plainWei = OneDNN.plainDesc(weightDims, .f32),
              let plainDst = FormatConversion.desc(dstDims, key.result),
              var dstF32 = OneDNN.anyDesc(dstDims, .f32), var srcF32 = OneDNN.anyDesc(srcDims, .f32),
              var weiF32 = OneDNN.anyDesc(weightDims, .f32),
              let attr = OneDNN.makeAttributes() else { return nil }
        // Blocked tensors of ours are what the primitive reads and writes, as they are; for plain
        // ones it picks its own layout and element type (`any`), and reorders convert.
        if key.source != .plain { (src, srcF32) = (plainSrc, plainSrc) }
        if key.result != .plain { (dst, dstF32) = (plainDst, plainDst) }
        defer { dnnl_primitive_attr_destroy(attr) }
        var strides: [dnnl_dim_t] = [dnnl_dim_t(s.strideH), dnnl_dim_t(s.strideW)]
        var padL: [dnnl_dim_t] = [dnnl_dim_t(s.padH), dnnl_dim_t(s.padW)]
        // The right/bottom padding that gives our output size (less than the left where the
        // stride leaves the last rows out).
        var padR: [dnnl_dim_t] = [dnnl_dim_t((s.outH - 1) * s.strideH + s.kernelH - s.height - s.padH),
                                  dnnl_dim_t((s.outW - 1) * s.strideW + s.kernelW - s.width - s.padW)]
        // Results are float32 (the product accumulates in float32 and our tensors hold it).
        var forwardDesc = dnnl_convolution_desc_t()
        let status = withUnsafePointer(to: &bias) { biasDesc in
            dnnl_convolution_forward_desc_init(&forwardDesc, dnnl_forward_training, dnnl_convolution_direct, &src, &wei,
                                               key.hasBias ? biasDesc : nil, &dstF32, &strides, &padL, &padR)
        }
        guard status == dnnl_success else { return nil }
        var forwardPD: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&forwardPD, &forwardDesc, attr, engine, nil) == dnnl_success, let forwardPD else { return nil }
        defer { dnnl_primitive_desc_destroy(forwardPD) }
        var descriptor: dnnl_primitive_desc_t?
        let queries: (source: dnnl_query_t, weights: dnnl_query_t, result: dnnl_query_t)
        let plain: (source: dnnl_memory_desc_t, result: dnnl_memory_desc_t)
        switch key.pass {
        case .forward:
            descriptor = forwardPD
            queries = (dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md)
            plain = (plainSrc, plainDst)
        case .backwardData:
            var desc = dnnl_convolution_desc_t()
            guard dnnl_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &srcF32, &wei, &dst,
                                                           &strides, &padL, &padR) == dnnl_success,
                  dnnl_primitive_desc_create(&descriptor, &desc, attr, engine, forwardPD) == dnnl_success else { return nil }
            queries = (dnnl_query_diff_dst_md, dnnl_query_weights_md, dnnl_query_diff_src_md)
            plain = (plainDst, plainSrc)
        case .backwardWeights:
            var desc = dnnl_convolution_desc_t()
            guard dnnl_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &src, &weiF32, nil, &dst,
                                                              &strides, &padL, &padR) == dnnl_success,
                  dnnl_primitive_desc_create(&descriptor, &desc, attr, engine, forwardPD) == dnnl_success else { return nil }
            queries = (dnnl_query_src_md, dnnl_query_diff_dst_md, dnnl_query_diff_weights_md)
            plain = (plainSrc, plainDst)
        }
        guard let descriptor else { return nil }
        defer { if key.pass != .forward { dnnl_primitive_desc_destroy(descriptor) } }
        guard let primitive = OneDNN.Primitive(descriptor),
              let source = dnnl_primitive_desc_query_md(descriptor, queries.source, 0)?.pointee,
              let weights = dnnl_primitive_desc_query_md(descriptor, queries.weights, 0)?.pointee,
              let result = dnnl_primitive_desc_query_md(descriptor, queries.result, 0)?.pointee else { return nil }
        return Plan(primitive: primitive, source: source, weights: weights, result: result, plainSource: plain.source,
                    plainWeights: key.pass == .backwardWeights ? plainDst : plainWei,
                    plainResult: key.pass == .backwardWeights ? plainWei : plain.result,
                    weightGradientDims: key.pass == .backwardWeights ? weightDims : nil)
    }
}
