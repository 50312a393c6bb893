import Autograd
import Foundation
import NN
import SwiftProtobuf

/// Something in the model that ONNX export cannot write, named for the user.
public struct ExportError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Writes a model as an ONNX graph (opset 17): the model runs once in eval mode on a traced
/// batch, and every operation it ran becomes ONNX nodes, with the weights as initializers
/// named by their state-dict keys. The batch axis of the input and output is dynamic.
public enum ONNXExporter {
    public static let opsetVersion = 17
    /// The IR version that goes with opset 17.
    public static let irVersion = 8
    /// The traced batch: any size works; an unusual one keeps the batch axis from being
    /// confused with another axis of the same extent.
    static let traceBatch = 3

    public struct Options {
        public var inputName = "input"
        public var outputName = "logits"
        public var graphName: String
        public var producerVersion: String
        /// `metadata_props`: what a deployment needs besides the graph (classes, normalisation, ...).
        public var metadata: [String: String]
        public init(graphName: String, producerVersion: String, metadata: [String: String] = [:]) {
            self.graphName = graphName; self.producerVersion = producerVersion; self.metadata = metadata
        }
    }

    /// The ONNX model of `model` for inputs of `sampleShape` (`[C, H, W]`).
    public static func export(_ model: LayerModule, sampleShape: [Int], options: Options) throws -> Onnx_ModelProto {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let input = Tensor(zeros: [traceBatch] + sampleShape)
        let (nodes, output) = withNoGrad { Tracer.trace { model(input) } }

        var lowering = ONNXLowering(input: input, inputName: options.inputName,
                                    parameters: model.stateDict())
        lowering.builder.setName(options.graphName)
        lowering.builder.addInput(ONNXGraphBuilder.batchedValue(options.inputName, shape: input.shape))
        for node in nodes { try lowering.lower(node) }
        guard let result = lowering.builder.name(of: output) else {
            throw ExportError("the model's output was not computed by a traced operation")
        }
        // The last node writes the output under its public name.
        lowering.builder.node("Identity", [result], name: "output", output: options.outputName)
        lowering.builder.addOutput(ONNXGraphBuilder.batchedValue(options.outputName, shape: output.shape))

        var proto = Onnx_ModelProto()
        proto.irVersion = Int64(irVersion)
        proto.producerName = "ddptrain"
        proto.producerVersion = options.producerVersion
        proto.modelVersion = 1
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(opsetVersion)
        proto.opsetImport = [opset]
        proto.graph = lowering.builder.graph
        proto.metadataProps = options.metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return proto
    }

    /// The ONNX file's bytes.
    public static func serialize(_ model: Onnx_ModelProto) throws -> Data {
        try model.serializedData()
    }

    /// Writes the ONNX file at `path`, whole or not at all.
    public static func write(_ model: Onnx_ModelProto, to path: String) throws {
        try AtomicFile.write([UInt8](try serialize(model)), to: path)
    }
}
