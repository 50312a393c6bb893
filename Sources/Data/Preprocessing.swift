import Foundation

/// How an image file becomes a model input outside training (prediction, deployment): the
/// evaluation transform of the data set the model was trained on. A centre square of
/// `cropFraction` of the short side is resized (bilinear) to `size` and normalised; a file of
/// exactly the data set's size passes through unchanged but for the normalisation.
public struct Preprocessing: Codable, Sendable, Equatable {
    public var channels: Int
    public var size: Int
    /// 224/256 for ImageNet-style folders (resize to size·256/224, centre-crop size); 1 for fixed-size sets.
    public var cropFraction: Double
    public var mean: [Float]
    public var std: [Float]

    enum CodingKeys: String, CodingKey {
        case channels, size, cropFraction = "crop_fraction", mean, std
    }

    public init(channels: Int, size: Int, cropFraction: Double, normalization: Normalization) {
        self.channels = channels; self.size = size; self.cropFraction = cropFraction
        self.mean = normalization.mean; self.std = normalization.std
    }

    public var normalization: Normalization { Normalization(mean: mean, std: std) }
    public var sampleShape: [Int] { [channels, size, size] }

    /// The model input (`sampleShape`, CHW) for a decoded image; `source` names it in errors.
    public func input(from image: DecodedImage, source: String, into out: UnsafeMutablePointer<Float>) throws {
        if channels == 1 && image.isColour {
            throw DataError(source, "a colour image, but the model takes greyscale (1-channel) images; convert it to greyscale")
        }
        Resize.bilinear(image, crop: Self.centreSquare(width: image.width, height: image.height, fraction: cropFraction),
                        outSize: size, mirrored: false, normalization: normalization, channels: channels, into: out)
    }

    /// The centred square whose side is `fraction` of the short side.
    static func centreSquare(width: Int, height: Int, fraction: Double) -> (x: Double, y: Double, w: Double, h: Double) {
        let (w, h) = (Double(width), Double(height))
        let side = min(w, h) * fraction
        return ((w - side) / 2, (h - side) / 2, side, side)
    }

    /// The RGB bytes the model sees of `image` (its input before normalisation), for pictures of
    /// what it predicted.
    public func view(of image: DecodedImage) -> DecodedImage {
        var values = [Float](repeating: 0, count: 3 * size * size)
        values.withUnsafeMutableBufferPointer { out in
            Resize.bilinear(image, crop: Self.centreSquare(width: image.width, height: image.height, fraction: cropFraction),
                            outSize: size, mirrored: false, normalization: .identity,
                            channels: 3, into: out.baseAddress!)
        }
        let plane = size * size
        var pixels = [UInt8](repeating: 0, count: 3 * plane)
        for p in 0..<plane { for c in 0..<3 { pixels[p * 3 + c] = UInt8(min(max(values[c * plane + p].rounded(), 0), 255)) } }
        return DecodedImage(width: size, height: size, channels: 3, pixels: pixels, isColour: image.isColour)
    }

    /// The model input for an image file (JPEG or PNG).
    public func input(fromFile path: String, into out: UnsafeMutablePointer<Float>) throws {
        try input(from: try ImageCodec.decode(file: path), source: path, into: out)
    }
}

extension DataSource {
    /// The evaluation transform of this data set as far as it is known without reading it.
    public func preprocessing(options: Options) -> Preprocessing {
        switch self {
        case .fashionMNIST: Preprocessing(channels: 1, size: 28, cropFraction: 1, normalization: .fashionMNIST)
        case .mnist: Preprocessing(channels: 1, size: 28, cropFraction: 1, normalization: .mnist)
        case .cifar10: Preprocessing(channels: 3, size: 32, cropFraction: 1, normalization: .cifar10)
        case .cifar100: Preprocessing(channels: 3, size: 32, cropFraction: 1, normalization: .cifar100)
        case .imageFolder:
            Preprocessing(channels: 3, size: options.imageSize ?? 224, cropFraction: ImageFolder.evalCropFraction, normalization: .imageNet)
        // Generated sets have no pixel bytes; images map to [-1, 1], the range their values span.
        case .synthetic:
            Preprocessing(channels: options.channels ?? 3, size: options.imageSize ?? 224, cropFraction: 1, normalization: .symmetric)
        case .shapes:
            Preprocessing(channels: options.channels ?? 3, size: options.imageSize ?? 64, cropFraction: 1, normalization: .symmetric)
        // Sets read from the user's files know theirs once opened (`Dataset.preprocessing`); this is the configured part.
        case .segmentationFolder:
            Preprocessing(channels: options.channels ?? 3, size: options.imageSize ?? 256, cropFraction: 1,
                          normalization: options.normalization ?? .imageNet)
        case .npy:
            Preprocessing(channels: options.channels ?? 1, size: options.imageSize ?? 28, cropFraction: 1,
                          normalization: options.normalization ?? .symmetric)
        }
    }
}

extension Normalization {
    /// No normalisation: byte values stay in [0, 255] (for 8-bit views of a resampled image).
    static let identity = Normalization(mean: [0], std: [1.0 / 255])

    /// Bytes to [-1, 1].
    public static let symmetric = Normalization(mean: [0.5], std: [0.5])
}
