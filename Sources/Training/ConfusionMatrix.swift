import Autograd
import Distributed
import Foundation

/// Counts of (true class, predicted class) over every labelled position (image or pixel),
/// summed over the ranks: the matrix torchvision's segmentation reference keeps, from which
/// per-class accuracy, global pixel accuracy and intersection-over-union follow. Labels outside
/// `0..<classes` (the ignore value) are not counted.
public struct ConfusionMatrix: Sendable, Equatable {
    public let classes: Int
    /// Row-major `[true, predicted]`.
    public private(set) var counts: [Double]

    public init(classes: Int) {
        self.classes = classes
        counts = [Double](repeating: 0, count: classes * classes)
    }

    public subscript(truth: Int, predicted: Int) -> Double { counts[truth * classes + predicted] }

    /// Adds the arg-max (first maximum) of `logits` `[N, C, ...]` against `labels` (`N·positions`).
    public mutating func add(_ logits: Tensor, labels: [Int32]) {
        let (n, c) = (logits.shape[0], logits.shape[1])
        let positions = logits.shape.dropFirst(2).reduce(1, *)
        for i in 0..<n {
            for p in 0..<positions {
                let label = Int(labels[i * positions + p])
                guard label >= 0, label < classes else { continue }
                var best = 0, bestValue = -Float.infinity
                for k in 0..<c {
                    let v = logits.pointer[(i * c + k) * positions + p]
                    if v > bestValue { bestValue = v; best = k }
                }
                if best < classes { counts[label * classes + best] += 1 }
            }
        }
    }

    /// The sum over every rank (counts stay exact in Double far beyond any data set).
    public func allReduced(_ communicator: Communicator) -> ConfusionMatrix {
        var copy = self
        communicator.during("the confusion matrix") { communicator.allReduceSum(&copy.counts) }
        return copy
    }

    private func row(_ k: Int) -> Double { (0..<classes).reduce(0) { $0 + self[k, $1] } }
    /// Positions labelled class `k`.
    public func labelled(_ k: Int) -> Int { Int(row(k)) }
    private func column(_ k: Int) -> Double { (0..<classes).reduce(0) { $0 + self[$1, k] } }

    /// Correct over labelled positions (segmentation's global pixel accuracy).
    public var accuracy: Double {
        let total = counts.reduce(0, +)
        return total > 0 ? (0..<classes).reduce(0) { $0 + self[$1, $1] } / total : 0
    }

    /// Per class: correct over that class's labelled positions (recall); nil for a class never labelled.
    public var perClassAccuracy: [Double?] {
        (0..<classes).map { k in let r = row(k); return r > 0 ? self[k, k] / r : nil }
    }

    /// Per class: intersection over union, TP / (TP + FP + FN); nil for a class neither labelled nor predicted.
    public var intersectionOverUnion: [Double?] {
        (0..<classes).map { k in
            let union = row(k) + column(k) - self[k, k]
            return union > 0 ? self[k, k] / union : nil
        }
    }

    /// Mean of the per-class IoU over the classes that occur (torchvision averages the classes
    /// with a defined IoU the same way through `nanmean`).
    public var meanIntersectionOverUnion: Double {
        let defined = intersectionOverUnion.compactMap { $0 }
        return defined.isEmpty ? 0 : defined.reduce(0, +) / Double(defined.count)
    }

    /// `true \ predicted` with the class names (or indices) as header and first column.
    public func csv(classNames: [String]?) -> String {
        let names = (0..<classes).map { Self.quoted(classNames?[safe: $0] ?? String($0)) }
        var text = "true \\ predicted," + names.joined(separator: ",") + "\n"
        for t in 0..<classes {
            text += names[t] + "," + (0..<classes).map { String(Int(self[t, $0])) }.joined(separator: ",") + "\n"
        }
        return text
    }

    private static func quoted(_ field: String) -> String {
        field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
