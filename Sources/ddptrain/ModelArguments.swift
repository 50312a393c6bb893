import ArgumentParser
import Training

/// The model options `train`, `eval` and `bench` share.
struct ModelArguments: ParsableArguments {
    @Option(help: "Classes of the classifier (default: the data set's).") var numClasses: Int?
    @Option(help: "Input channels (default: the data set's).") var inChannels: Int?
    @Option(help: "ResNet stem: imagenet (7x7/2 + max pool) or cifar (3x3/1).") var stem: String?
    @Option(help: "Image side for synthetic, shapes and imagefolder data and for vit_tiny.") var imageSize: Int?

    func apply(to config: inout TrainingConfig) {
        if let numClasses { config.numClasses = numClasses }
        if let inChannels { config.inChannels = inChannels }
        if let stem { config.stem = stem }
        if let imageSize { config.imageSize = imageSize }
    }
}
