import Autograd
import Data
import Foundation
import NN

/// A trained model applied to image files: each file goes through the training data set's
/// evaluation transform, then the model in eval mode, a batch at a time.
public final class Predictor {
    public struct ClassScore: Equatable, Sendable {
        public let index: Int
        public let name: String?
        public let probability: Double
    }

    /// A segmentation's per-pixel classes, as an 8-bit grey image of class indices.
    public struct Mask: Sendable {
        public let image: DecodedImage
        /// The share of pixels of each class.
        public let classFractions: [Double]
    }

    public let spec: InferenceSpec
    let model: LayerModule
    public static let batchSize = 32

    public init(checkpoint path: String, expectedModel: String? = nil) throws {
        let checkpoint = try Checkpoint.load(path)
        if let expectedModel, expectedModel.lowercased() != checkpoint.model {
            throw TrainingError("\(path): checkpoint of model '\(checkpoint.model)', not '\(expectedModel)'")
        }
        spec = try InferenceSpec.of(checkpoint, source: path)
        model = try spec.buildModel(weightsFrom: checkpoint, source: path)
    }

    /// The `top` most probable classes of each image, most probable first.
    public func classify(_ files: [String], top: Int = 5) throws -> [[ClassScore]] {
        guard !spec.isSegmentation else {
            throw TrainingError("\(spec.model) predicts a class per pixel; it writes masks, not class lists")
        }
        return try outputs(files).flatMap { logits in
            let (n, classes) = (logits.shape[0], logits.shape[1])
            return (0..<n).map { row in
                let probabilities = Self.softmax(UnsafeBufferPointer(start: logits.pointer + row * classes, count: classes))
                return probabilities.enumerated().sorted { $0.element > $1.element || $0.element == $1.element && $0.offset < $1.offset }
                    .prefix(top).map { ClassScore(index: $0.offset, name: spec.className($0.offset), probability: $0.element) }
            }
        }
    }

    /// The most probable class of every pixel of each image.
    public func segment(_ files: [String]) throws -> [Mask] {
        guard spec.isSegmentation else { throw TrainingError("\(spec.model) predicts one class per image, not masks") }
        return try outputs(files).flatMap { scores in
            let (n, classes, h, w) = (scores.shape[0], scores.shape[1], scores.shape[2], scores.shape[3])
            return (0..<n).map { image in
                var pixels = [UInt8](repeating: 0, count: h * w)
                var counts = [Int](repeating: 0, count: classes)
                let base = scores.pointer + image * classes * h * w
                for p in 0..<(h * w) {
                    var best = 0
                    for c in 1..<classes where base[c * h * w + p] > base[best * h * w + p] { best = c }
                    pixels[p] = UInt8(min(best, 255))
                    counts[best] += 1
                }
                return Mask(image: DecodedImage(width: w, height: h, channels: 1, pixels: pixels, isColour: false),
                            classFractions: counts.map { Double($0) / Double(h * w) })
            }
        }
    }

    /// The model's outputs for the files, one tensor per batch.
    func outputs(_ files: [String]) throws -> [Tensor] {
        let shape = spec.sampleShape
        let size = shape.reduce(1, *)
        var results: [Tensor] = []
        for start in stride(from: 0, to: files.count, by: Self.batchSize) {
            let batch = Array(files[start..<min(start + Self.batchSize, files.count)])
            let input = Tensor(uninitialized: [batch.count] + shape)
            for (i, file) in batch.enumerated() {
                try spec.preprocessing.input(fromFile: file, into: input.pointer + i * size)
            }
            results.append(withNoGrad { model(input) })
        }
        return results
    }

    static func softmax(_ logits: UnsafeBufferPointer<Float>) -> [Double] {
        let largest = logits.max() ?? 0
        let exps = logits.map { exp(Double($0 - largest)) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }
}
