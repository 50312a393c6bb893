import Foundation

/// What `ddptrain eval --per-class` shows of a confusion matrix: each class's accuracy, IoU and
/// labelled count, as table lines or JSON objects, and the matrix as CSV and an SVG heat map.
extension ConfusionMatrix {
    public func perClassLines(classNames: [String]?) -> [String] {
        let (accuracy, iou) = (perClassAccuracy, intersectionOverUnion)
        func percent(_ value: Double?) -> String { value.map { String(format: "%6.2f%%", 100 * $0) } ?? "     —" }
        return ["class                  accuracy      IoU   labelled"] + (0..<classes).map { k in
            String(format: "%-20@  %@  %@  %9d", Self.name(k, classNames).padding(toLength: 20, withPad: " ", startingAt: 0),
                   percent(accuracy[k]), percent(iou[k]), labelled(k))
        }
    }

    /// Each class's index, name, accuracy, IoU (null where undefined) and labelled count.
    public func perClassObjects(classNames: [String]?) -> [[String: Any]] {
        let (accuracy, iou) = (perClassAccuracy, intersectionOverUnion)
        return (0..<classes).map { k in
            ["class": k, "name": Self.knownName(k, classNames) ?? NSNull(),
             "accuracy": accuracy[k] ?? NSNull(), "iou": iou[k] ?? NSNull(), "labelled": labelled(k)]
        }
    }

    /// Writes confusion-matrix.csv and confusion-matrix.svg into `folder`; returns their paths.
    public func write(into folder: String, classNames: [String]?) throws -> (csv: String, svg: String) {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let base = URL(fileURLWithPath: folder)
        let csvFile = base.appendingPathComponent("confusion-matrix.csv"), svgFile = base.appendingPathComponent("confusion-matrix.svg")
        try csv(classNames: classNames).write(to: csvFile, atomically: true, encoding: .utf8)
        try svg(classNames: classNames).write(to: svgFile, atomically: true, encoding: .utf8)
        return (csvFile.path, svgFile.path)
    }

    static func knownName(_ k: Int, _ classNames: [String]?) -> String? {
        classNames.flatMap { $0.indices.contains(k) ? $0[k] : nil }
    }

    static func name(_ k: Int, _ classNames: [String]?) -> String { knownName(k, classNames) ?? String(k) }
}
