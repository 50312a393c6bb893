import Autograd

/// Turns traced operations into ONNX nodes, one operation at a time, in the order they ran.
struct ONNXLowering {
    var builder = ONNXGraphBuilder()
    private let input: Tensor
    private let inputName: String
    /// State-dict key of every parameter and buffer: weights keep PyTorch's names in the file.
    private let parameterNames: [ObjectIdentifier: String]
    /// Values computed from the input, whose first axis is the (dynamic) batch.
    private var batched: Set<ObjectIdentifier> = []
    /// `[batch]` as a 1-D int64 value, made once when an operation needs it.
    private var batchExtent: String?

    init(input: Tensor, inputName: String, parameters: [(name: String, tensor: Tensor)]) {
        self.input = input
        self.inputName = inputName
        var names: [ObjectIdentifier: String] = [:]
        for (name, tensor) in parameters { names[ObjectIdentifier(tensor)] = name }
        parameterNames = names
        builder.bind(input, to: inputName)
        batched.insert(ObjectIdentifier(input))
    }

    /// The ONNX value holding a traced tensor: computed earlier, or a weight or constant written now.
    private mutating func value(_ tensor: Tensor) -> String {
        if let name = builder.name(of: tensor) { return name }
        if let key = parameterNames[ObjectIdentifier(tensor)] { return builder.initializer(tensor, name: key) }
        return builder.initializer(tensor, name: builder.fresh("constant"))
    }

    private func isBatched(_ tensor: Tensor) -> Bool { batched.contains(ObjectIdentifier(tensor)) }

    /// The node's name: the module its first weight belongs to (`layer1.0.conv1`), else the operation.
    private func scope(_ node: Tracer.Node) -> String {
        for tensor in node.inputs.dropFirst() {
            if let key = parameterNames[ObjectIdentifier(tensor)], let dot = key.lastIndex(of: ".") {
                return String(key[..<dot])
            }
        }
        return node.op.name
    }

    mutating func lower(_ node: Tracer.Node) throws {
        var inputs: [String] = []
        for tensor in node.inputs { inputs.append(value(tensor)) }
        let name = scope(node)
        let x = node.inputs.first
        let out: String
        switch node.op {
        case let .conv2d(stride, padding):
            let k = node.inputs[1].shape
            out = builder.node("Conv", inputs, attributes: [
                Attribute.ints("kernel_shape", [k[2], k[3]]), Attribute.ints("strides", [stride, stride]),
                Attribute.ints("pads", [padding, padding, padding, padding]), Attribute.ints("dilations", [1, 1]),
                Attribute.int("group", 1),
            ], name: name)
        case let .convTranspose2d(stride, padding, outputPadding):
            let k = node.inputs[1].shape
            out = builder.node("ConvTranspose", inputs, attributes: [
                Attribute.ints("kernel_shape", [k[2], k[3]]), Attribute.ints("strides", [stride, stride]),
                Attribute.ints("pads", [padding, padding, padding, padding]),
                Attribute.ints("output_padding", [outputPadding, outputPadding]), Attribute.ints("dilations", [1, 1]),
                Attribute.int("group", 1),
            ], name: name)
        case let .batchNorm(training, eps, relu, runningMean, runningVar, hasWeight, hasBias):
            out = try batchNorm(inputs, channels: x!.shape[1], training: training, eps: eps, relu: relu,
                                runningMean: runningMean, runningVar: runningVar, hasWeight: hasWeight, hasBias: hasBias,
                                name: name)
        case .relu: out = builder.node("Relu", inputs, name: name)
        case .sigmoid: out = builder.node("Sigmoid", inputs, name: name)
        case .gelu: out = gelu(inputs[0], name: name)
        case .addReLU: out = builder.node("Relu", [builder.node("Add", inputs, name: name)], name: name)
        case .add: out = builder.node("Add", inputs, name: name)
        case .subtract: out = builder.node("Sub", inputs, name: name)
        case .multiply: out = builder.node("Mul", inputs, name: name)
        case .divide: out = builder.node("Div", inputs, name: name)
        case let .scale(factor): out = builder.node("Mul", [inputs[0], builder.constant(float: [factor])], name: name)
        case .linear: out = linear(inputs, rank: x!.rank, name: name)
        case let .layerNorm(eps):
            guard inputs.count == 3 else { throw ExportError("layer_norm without weight and bias cannot be exported") }
            out = builder.node("LayerNormalization", inputs, attributes: [Attribute.int("axis", -1), Attribute.float("epsilon", eps)],
                               name: name)
        case let .selfAttention(heads):
            out = attention(inputs[0], embed: x!.shape[2] / 3, heads: heads, name: name)
        case let .maxPool2d(kernel, stride, padding):
            out = builder.node("MaxPool", inputs, attributes: pooling(kernel, stride, padding), name: name)
        case let .avgPool2d(kernel, stride, padding):
            out = builder.node("AveragePool", inputs, attributes: pooling(kernel, stride, padding) + [Attribute.int("count_include_pad", 1)],
                               name: name)
        case .globalAvgPool2d: out = builder.node("GlobalAveragePool", inputs, name: name)
        case let .reshape(shape):
            out = builder.node("Reshape", [inputs[0], builder.constant(int64: try batchRelative(shape, of: x!))], name: name)
        case let .permute(order):
            guard !isBatched(x!) || order[0] == 0 else {
                throw ExportError("permute \(order) moves the batch axis; it cannot be exported with a dynamic batch")
            }
            out = builder.node("Transpose", inputs, attributes: [Attribute.ints("perm", order)], name: name)
        case let .expand(shape):
            out = builder.node("Expand", [inputs[0], try expandShape(shape, of: x!)], name: name)
        case let .concat(axis):
            out = builder.node("Concat", inputs, attributes: [Attribute.int("axis", axis)], name: name)
        case let .narrow(axis, start, length):
            out = builder.node("Slice", [inputs[0], builder.constant(int64: [start]), builder.constant(int64: [start + length]),
                                         builder.constant(int64: [axis])], name: name)
        case .upsampleBilinear:
            let (from, to) = (x!.shape, node.output.shape)
            let scales = builder.constant(float: [1, 1, Float(to[2]) / Float(from[2]), Float(to[3]) / Float(from[3])], shape: [4])
            out = builder.node("Resize", [inputs[0], "", scales], attributes: [
                Attribute.string("mode", "linear"), Attribute.string("coordinate_transformation_mode", "align_corners"),
            ], name: name)
        case .softmax: out = builder.node("Softmax", inputs, attributes: [Attribute.int("axis", -1)], name: name)
        case .sum, .crossEntropy:
            throw ExportError("\(node.op.name) is part of the loss, not the model; export traces the model alone")
        }
        builder.bind(node.output, to: out)
        var expandsToBatch = false
        if case let .expand(shape) = node.op { expandsToBatch = shape.first == ONNXExporter.traceBatch }
        if expandsToBatch || node.inputs.contains(where: isBatched) { batched.insert(ObjectIdentifier(node.output)) }
    }

    private func pooling(_ kernel: Int, _ stride: Int, _ padding: Int) -> [Onnx_AttributeProto] {
        [Attribute.ints("kernel_shape", [kernel, kernel]), Attribute.ints("strides", [stride, stride]),
         Attribute.ints("pads", [padding, padding, padding, padding])]
    }

    private mutating func batchNorm(_ inputs: [String], channels: Int, training: Bool, eps: Double, relu: Bool,
                                    runningMean: Tensor?, runningVar: Tensor?, hasWeight: Bool, hasBias: Bool,
                                    name: String) throws -> String {
        guard !training, let runningMean, let runningVar else {
            throw ExportError("batch norm \(name) ran in training mode; export needs eval mode")
        }
        var rest = inputs.dropFirst()
        let scale = hasWeight ? rest.removeFirst() : builder.constant(float: Array(repeating: 1, count: channels), shape: [channels])
        let shift = hasBias ? rest.removeFirst() : builder.constant(float: Array(repeating: 0, count: channels), shape: [channels])
        let normalized = builder.node("BatchNormalization", [inputs[0], scale, shift, value(runningMean), value(runningVar)],
                                      attributes: [Attribute.float("epsilon", Float(eps))], name: name)
        return relu ? builder.node("Relu", [normalized], name: name) : normalized
    }

    /// Exact GELU, `x · ½ · (1 + erf(x / √2))` (opset 17 has no Gelu operator).
    private mutating func gelu(_ x: String, name: String) -> String {
        let scaled = builder.node("Mul", [x, builder.constant(float: [0.70710678118654752])], name: name)
        let cdf = builder.node("Add", [builder.node("Erf", [scaled], name: name), builder.constant(float: [1])], name: name)
        return builder.node("Mul", [builder.node("Mul", [x, cdf], name: name), builder.constant(float: [0.5])], name: name)
    }

    /// `x · Wᵀ + b`: Gemm for a batch of vectors, MatMul (and Add) for sequences.
    private mutating func linear(_ inputs: [String], rank: Int, name: String) -> String {
        if rank == 2 {
            return builder.node("Gemm", inputs, attributes: [Attribute.int("transB", 1)], name: name)
        }
        let transposed = builder.node("Transpose", [inputs[1]], attributes: [Attribute.ints("perm", [1, 0])], name: name)
        let product = builder.node("MatMul", [inputs[0], transposed], name: name)
        return inputs.count > 2 ? builder.node("Add", [product, inputs[2]], name: name) : product
    }

    /// Multi-head self-attention over packed `[B, L, 3E]` projections, as `softmax(q·kᵀ/√d)·v` per head.
    private mutating func attention(_ qkv: String, embed: Int, heads: Int, name: String) -> String {
        let d = embed / heads
        func part(_ index: Int, perm: [Int]) -> String {
            let slice = builder.node("Slice", [qkv, builder.constant(int64: [index * embed]), builder.constant(int64: [(index + 1) * embed]),
                                               builder.constant(int64: [2])], name: name)
            let split = builder.node("Reshape", [slice, builder.constant(int64: [0, 0, heads, d])], name: name)
            return builder.node("Transpose", [split], attributes: [Attribute.ints("perm", perm)], name: name)
        }
        let q = part(0, perm: [0, 2, 1, 3]), kT = part(1, perm: [0, 2, 3, 1]), v = part(2, perm: [0, 2, 1, 3])
        let scores = builder.node("Mul", [builder.node("MatMul", [q, kT], name: name),
                                          builder.constant(float: [1 / Float(d).squareRoot()])], name: name)
        let weights = builder.node("Softmax", [scores], attributes: [Attribute.int("axis", -1)], name: name)
        let mixed = builder.node("MatMul", [weights, v], name: name)
        let merged = builder.node("Transpose", [mixed], attributes: [Attribute.ints("perm", [0, 2, 1, 3])], name: name)
        return builder.node("Reshape", [merged, builder.constant(int64: [0, 0, embed])], name: name)
    }

    /// A reshape target with the batch axis left to the input (0 copies it in ONNX's Reshape).
    private func batchRelative(_ shape: [Int], of x: Tensor) throws -> [Int] {
        guard isBatched(x) else { return shape }
        guard shape.first == x.shape[0] else {
            throw ExportError("reshape of \(x.shape) to \(shape) merges the batch axis; it cannot be exported with a dynamic batch")
        }
        return [0] + shape.dropFirst()
    }

    /// The target of an expand: a constant, except that a traced batch extent becomes the input's batch.
    private mutating func expandShape(_ shape: [Int], of x: Tensor) throws -> String {
        if isBatched(x) { return builder.constant(int64: [1] + shape.dropFirst()) }
        guard shape.first == ONNXExporter.traceBatch, x.rank == shape.count, x.shape[0] == 1 else {
            return builder.constant(int64: shape)
        }
        if batchExtent == nil {
            let whole = builder.node("Shape", [inputName], name: "batch")
            batchExtent = builder.node("Slice", [whole, builder.constant(int64: [0]), builder.constant(int64: [1]),
                                                 builder.constant(int64: [0])], name: "batch")
        }
        return builder.node("Concat", [batchExtent!, builder.constant(int64: Array(shape.dropFirst()))],
                            attributes: [Attribute.int("axis", 0)], name: "batch")
    }
}
