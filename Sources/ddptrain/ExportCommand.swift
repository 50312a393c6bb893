import ArgumentParser
import Export
import Foundation
import Training

/// `ddptrain export CHECKPOINT --out FILE [--format safetensors|onnx]`: the trained model
/// alone, as PyTorch-named weights or as an ONNX graph any inference runtime reads.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a checkpoint's model as safetensors weights or an ONNX model.",
        discussion: """
            safetensors: the state dict with PyTorch's names (load with safetensors.torch.load_file).
            onnx: the eval-mode graph, opset 17, input 'input' [batch, C, H, W] with a dynamic batch, output 'logits'; \
            the model, data set, normalisation and class names are in its metadata. Without --format, an --out ending \
            in .onnx writes ONNX.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case safetensors, onnx
    }

    @Argument(help: "A ddptrain checkpoint.") var checkpoint: String
    @Option(help: "The file to write.") var out: String
    @Option(help: "safetensors or onnx (default: from --out's extension, else safetensors).") var format: Format?

    var resolvedFormat: Format { format ?? (out.lowercased().hasSuffix(".onnx") ? .onnx : .safetensors) }

    func run() throws {
        do {
            let saved = try Checkpoint.load(checkpoint)
            switch resolvedFormat {
            case .safetensors: try writeSafeTensors(saved)
            case .onnx: try writeONNX(saved)
            }
        } catch {
            throw CleanExit.error(error)
        }
    }

    func writeSafeTensors(_ saved: Checkpoint) throws {
        let count = try saved.writeModelSafeTensors(to: out)
        print("wrote \(out): \(count) tensors of \(saved.model) at step \(saved.progress.globalStep)")
    }

    func writeONNX(_ saved: Checkpoint) throws {
        let spec = try InferenceSpec.of(saved, source: checkpoint)
        let model = try spec.buildModel(weightsFrom: saved, source: checkpoint)
        var metadata = spec.onnxMetadata
        metadata["ddptrain.step"] = String(saved.progress.globalStep)
        let proto = try ONNXExporter.export(model, sampleShape: spec.sampleShape, options: .init(
            graphName: spec.model, producerVersion: Trainer.version, metadata: metadata))
        try ONNXExporter.write(proto, to: out)
        let outputShape = spec.isSegmentation ? "[batch, \(spec.numClasses), \(spec.imageSize), \(spec.imageSize)]" : "[batch, \(spec.numClasses)]"
        print("wrote \(out): \(spec.model) at step \(saved.progress.globalStep) as ONNX opset \(ONNXExporter.opsetVersion), "
              + "\(proto.graph.node.count) nodes; input 'input' [batch, \(spec.inChannels), \(spec.imageSize), \(spec.imageSize)], "
              + "output 'logits' \(outputShape)")
    }
}
