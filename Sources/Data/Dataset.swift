/// A data set as the loader sees it: a number of samples, each written (decoded, augmented
/// and normalised) straight into the batch's buffers.
public protocol Dataset: Sendable {
    var count: Int { get }
    var classCount: Int { get }
    /// `[channels, height, width]` of one sample as it enters the model.
    var sampleShape: [Int] { get }
    /// True when every pixel has a label (segmentation), false for one label per image.
    var isSegmentation: Bool { get }
    /// Writes sample `index` of `epoch` into `image` (`sampleShape` floats, CHW) and its
    /// label(s) into `labels` (1, or height·width for segmentation). Augmentation draws
    /// from (seed, epoch, index) only, so the result never depends on rank, thread or resume point.
    func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws
    /// The evaluation transform, when it depends on the files (computed statistics); nil when
    /// the source alone knows it (`DataSource.preprocessing`).
    var preprocessing: Preprocessing? { get }
    /// What opening the set assumed or computed, said once at start-up.
    var notes: [String] { get }
}

extension Dataset {
    public var preprocessing: Preprocessing? { nil }
    public var notes: [String] { [] }
    public var labelsPerSample: Int { isSegmentation ? sampleShape[1] * sampleShape[2] : 1 }
    public var sampleCount: Int { sampleShape.reduce(1, *) }
}

/// Per-channel normalisation, `(x/255 − mean) / std`.
public struct Normalization: Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]
    public init(mean: [Float], std: [Float]) { self.mean = mean; self.std = std }

    public static let fashionMNIST = Normalization(mean: [0.2860], std: [0.3530])
    public static let mnist = Normalization(mean: [0.1307], std: [0.3081])
    public static let cifar10 = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
    public static let cifar100 = Normalization(mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762])
    public static let imageNet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// Multiplier and offset that map a byte of channel `c` to its normalised value.
    @inline(__always)
    func affine(_ c: Int) -> (scale: Float, shift: Float) {
        let m = mean[c % mean.count], s = std[c % std.count]
        return (1 / (255 * s), -m / s)
    }

    /// The same for values already in [0, 1].
    @inline(__always)
    func unitAffine(_ c: Int) -> (scale: Float, shift: Float) {
        let m = mean[c % mean.count], s = std[c % std.count]
        return (1 / s, -m / s)
    }
}
