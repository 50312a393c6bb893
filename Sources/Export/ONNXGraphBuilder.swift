import Autograd
import Foundation

/// Builds an ONNX graph: names values, adds nodes with typed attributes, and turns weights
/// and small constants into initializers (raw little-endian bytes).
struct ONNXGraphBuilder {
    private(set) var graph = Onnx_GraphProto()
    /// The ONNX value that holds each traced tensor.
    private var names: [ObjectIdentifier: String] = [:]
    private var usedNames: Set<String> = []
    private var counter = 0

    func name(of tensor: Tensor) -> String? { names[ObjectIdentifier(tensor)] }

    mutating func bind(_ tensor: Tensor, to name: String) { names[ObjectIdentifier(tensor)] = name }

    /// A value name not used before, from `base`.
    mutating func fresh(_ base: String) -> String {
        counter += 1
        var candidate = "\(base)_\(counter)"
        while usedNames.contains(candidate) { counter += 1; candidate = "\(base)_\(counter)" }
        usedNames.insert(candidate)
        return candidate
    }

    /// Adds `op` over `inputs` (an empty string skips an optional input) and returns its first output's name.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], attributes: [Onnx_AttributeProto] = [], name: String? = nil,
                       output: String? = nil) -> String {
        let out = output ?? fresh(op.lowercased())
        var node = Onnx_NodeProto()
        node.opType = op
        node.input = inputs
        node.output = [out]
        node.name = name.map { fresh($0) } ?? fresh("node_\(op)")
        node.attribute = attributes
        graph.node.append(node)
        return out
    }

    /// A float32 initializer holding `tensor`'s values under `name`.
    mutating func initializer(_ tensor: Tensor, name: String) -> String {
        usedNames.insert(name)
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        proto.dims = tensor.shape.map(Int64.init)
        proto.rawData = Data(bytes: tensor.pointer, count: tensor.count * MemoryLayout<Float>.size)
        graph.initializer.append(proto)
        bind(tensor, to: name)
        return name
    }

    /// A constant int64 vector (shapes, axes, slice bounds).
    mutating func constant(int64 values: [Int]) -> String {
        let name = fresh("const_i64")
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        proto.dims = [Int64(values.count)]
        proto.int64Data = values.map(Int64.init)
        graph.initializer.append(proto)
        return name
    }

    /// A constant float32 tensor (a scalar when `shape` is empty).
    mutating func constant(float values: [Float], shape: [Int] = []) -> String {
        let name = fresh("const_f32")
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        proto.dims = shape.map(Int64.init)
        proto.floatData = values
        graph.initializer.append(proto)
        return name
    }

    /// A float32 input or output whose first axis is the dynamic batch.
    static func batchedValue(_ name: String, shape: [Int]) -> Onnx_ValueInfoProto {
        var value = Onnx_ValueInfoProto()
        value.name = name
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensorType.shape.dim = shape.enumerated().map { axis, extent in
            var dim = Onnx_TensorShapeProto.Dimension()
            if axis == 0 { dim.dimParam = "batch" } else { dim.dimValue = Int64(extent) }
            return dim
        }
        value.type.tensorType = tensorType
        return value
    }

    mutating func addInput(_ value: Onnx_ValueInfoProto) { usedNames.insert(value.name); graph.input.append(value) }
    mutating func addOutput(_ value: Onnx_ValueInfoProto) { graph.output.append(value) }
    mutating func setName(_ name: String) { graph.name = name }
}

/// Typed attribute constructors.
enum Attribute {
    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = Int64(value); return a
    }
    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = values.map(Int64.init); return a
    }
    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .float; a.f = value; return a
    }
    static func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .string; a.s = Data(value.utf8); return a
    }
}
