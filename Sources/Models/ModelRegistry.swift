import Autograd
import NN

/// What a user may set on any model; each model reads the options that apply to it.
public struct ModelOptions: Sendable, Equatable {
    public var numClasses: Int?
    public var inChannels: Int?
    public var stem: ResNet.Stem?
    public var imageSize: Int?
    public var zeroInitResidual = false
    public init(numClasses: Int? = nil, inChannels: Int? = nil, stem: ResNet.Stem? = nil, imageSize: Int? = nil,
                zeroInitResidual: Bool = false) {
        self.numClasses = numClasses; self.inChannels = inChannels; self.stem = stem
        self.imageSize = imageSize; self.zeroInitResidual = zeroInitResidual
    }
}

/// A model the registry can build, with its defaults.
public struct ModelEntry: Sendable {
    public let name: String
    public let summary: String
    public let defaultClasses: Int
    public let defaultChannels: Int
    public let defaultImageSize: Int
    /// Prefix of the classification head's keys (skipped by non-strict weight loading).
    public let headPrefix: String
    /// True for per-pixel outputs (segmentation), false for one score vector per image.
    public let isSegmentation: Bool
    let make: @Sendable (ModelOptions) -> LayerModule

    /// Builds the model with `options` over the entry's defaults.
    public func build(_ options: ModelOptions = ModelOptions()) -> LayerModule { make(options) }

    /// The input shape a batch of `batch` images has under `options`.
    public func inputShape(batch: Int, options: ModelOptions = ModelOptions()) -> [Int] {
        let size = options.imageSize ?? defaultImageSize
        return [batch, options.inChannels ?? defaultChannels, size, size]
    }

    /// Forward FLOPs of one image, counted from the layer shapes during a batch-1 forward pass.
    public func forwardFLOPs(_ options: ModelOptions = ModelOptions(), model: LayerModule? = nil) -> Double {
        let network = model ?? build(options)
        let wasTraining = network.isTraining
        network.eval()
        defer { network.train(wasTraining) }
        return withNoGrad { FLOPCounter.measure { _ = network(Tensor(zeros: inputShape(batch: 1, options: options))) } }
    }
}

public struct UnknownModel: Error, CustomStringConvertible {
    public let name: String
    public var description: String {
        "unknown model '\(name)'; choose one of: \(ModelRegistry.names.joined(separator: ", "))"
    }
}

/// Every model by the name users type (`ddptrain resnet50`).
public enum ModelRegistry {
    public static let entries: [ModelEntry] = {
        var list: [ModelEntry] = []
        for se in [false, true] {
            for depth in [18, 34, 50, 101, 152] {
                let name = se ? "se_resnet\(depth)" : "resnet\(depth)"
                list.append(ModelEntry(
                    name: name, summary: se ? "ResNet-\(depth) with squeeze-and-excitation in every block" : "torchvision ResNet-\(depth)",
                    defaultClasses: 1000, defaultChannels: 3, defaultImageSize: 224, headPrefix: "fc.", isSegmentation: false
                ) { o in
                    ResNet(depth: depth, options: .init(numClasses: o.numClasses ?? 1000, inChannels: o.inChannels ?? 3,
                                                        stem: o.stem ?? .imagenet, zeroInitResidual: o.zeroInitResidual,
                                                        squeezeExcitation: se))
                })
            }
        }
        list.append(ModelEntry(name: "senet18", summary: "CIFAR SENet-18 (SE as 1x1 convs)", defaultClasses: 10,
                               defaultChannels: 3, defaultImageSize: 32, headPrefix: "linear.", isSegmentation: false) { o in
            SENet18(numClasses: o.numClasses ?? 10, inChannels: o.inChannels ?? 3)
        })
        list.append(ModelEntry(name: "unet", summary: "UNet, feature_scale 2, bilinear upsampling", defaultClasses: 2,
                               defaultChannels: 3, defaultImageSize: 64, headPrefix: "final.", isSegmentation: true) { o in
            UNet(options: .init(inChannels: o.inChannels ?? 3, numClasses: o.numClasses ?? 2))
        })
        list.append(ModelEntry(name: "vit_tiny", summary: "Vision Transformer: patch 4, 6 layers, 4 heads, hidden 192",
                               defaultClasses: 10, defaultChannels: 3, defaultImageSize: 28, headPrefix: "heads.head.",
                               isSegmentation: false) { o in
            VisionTransformer(options: .init(imageSize: o.imageSize ?? 28, numClasses: o.numClasses ?? 10,
                                             inChannels: o.inChannels ?? 3))
        })
        return list
    }()

    public static var names: [String] { entries.map(\.name) }

    public static func entry(_ name: String) throws -> ModelEntry {
        guard let entry = entries.first(where: { $0.name == name.lowercased() }) else { throw UnknownModel(name: name) }
        return entry
    }
}
