import Data
import Foundation
import Models
import NN

/// What running a trained model needs besides its weights: how to build it, how an image
/// becomes its input, and what its outputs mean. Training stores it in every checkpoint, so
/// that `export` and `predict` work on a machine without the training data.
public struct InferenceSpec: Codable, Equatable, Sendable {
    public var model: String
    public var numClasses: Int
    public var inChannels: Int
    public var imageSize: Int
    public var stem: ResNet.Stem?
    /// The data set trained on (`--data`).
    public var data: String
    public var preprocessing: Preprocessing
    public var classNames: [String]?
    public var isSegmentation: Bool

    enum CodingKeys: String, CodingKey {
        case model, numClasses = "num_classes", inChannels = "in_channels", imageSize = "image_size", stem, data, preprocessing
        case classNames = "class_names", isSegmentation = "segmentation"
    }

    public init(config: TrainingConfig, options: ModelOptions, dataset: Dataset, source: DataSource, entry: ModelEntry) {
        model = entry.name
        numClasses = options.numClasses ?? entry.defaultClasses
        inChannels = options.inChannels ?? entry.defaultChannels
        imageSize = options.imageSize ?? entry.defaultImageSize
        stem = options.stem
        data = source.rawValue
        preprocessing = dataset.preprocessing ?? source.preprocessing(options: config.dataOptions)
        let classes = numClasses
        isSegmentation = entry.isSegmentation
        classNames = source.classNames(of: dataset).flatMap { $0.count == classes ? $0 : nil }
    }

    /// `[C, H, W]` of one input.
    public var sampleShape: [Int] { [inChannels, imageSize, imageSize] }

    public var modelOptions: ModelOptions {
        ModelOptions(numClasses: numClasses, inChannels: inChannels, stem: stem, imageSize: imageSize)
    }

    /// The model in eval mode with the checkpoint's weights.
    public func buildModel(weightsFrom checkpoint: Checkpoint, source: String) throws -> LayerModule {
        let network = try ModelRegistry.entry(model).build(modelOptions)
        try checkpoint.restore(into: network, optimizer: nil, modelName: model, source: source)
        network.eval()
        return network
    }

    /// `name` of class `index`, or its index when the data set names no classes.
    public func className(_ index: Int) -> String? {
        guard let classNames, classNames.indices.contains(index) else { return nil }
        return classNames[index]
    }

    /// The spec a checkpoint carries; for checkpoints written before it did, rebuilt from the
    /// run's config and data set (which must then be readable here).
    public static func of(_ checkpoint: Checkpoint, source: String) throws -> InferenceSpec {
        if let stored = checkpoint.inference { return stored }
        let config = try checkpoint.trainingConfig(source: source)
        let data = try DataSource.named(config.data)
        let dataset: Dataset
        do { dataset = try data.open(train: false, options: config.dataOptions) } catch {
            throw TrainingError("\(source): written by an older ddptrain without its inference settings, and its data set "
                                + "is needed to rebuild them: \(error)")
        }
        let entry = try ModelRegistry.entry(checkpoint.model)
        return InferenceSpec(config: config, options: try config.modelOptions(fitting: dataset), dataset: dataset, source: data,
                             entry: entry)
    }

    /// ONNX `metadata_props`: enough to feed the exported graph and read its output.
    public var onnxMetadata: [String: String] {
        var metadata = [
            "ddptrain.model": model, "ddptrain.data": data, "ddptrain.task": isSegmentation ? "segmentation" : "classification",
            "ddptrain.input": "float32 [batch, \(inChannels), \(imageSize), \(imageSize)], (x / 255 - mean) / std per channel",
            "ddptrain.num_classes": String(numClasses),
        ]
        if let json = try? JSONEncoder.sorted.encode(preprocessing) { metadata["ddptrain.preprocessing"] = String(decoding: json, as: UTF8.self) }
        if let classNames, let json = try? JSONEncoder.sorted.encode(classNames) {
            metadata["ddptrain.class_names"] = String(decoding: json, as: UTF8.self)
        }
        return metadata
    }
}
