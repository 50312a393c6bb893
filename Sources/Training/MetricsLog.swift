import Foundation
import NN

/// Rank 0's record of a run in `--log-dir`: `metrics.jsonl` (one JSON object per logged step
/// and per evaluation), TensorBoard scalars, `run.json`, and `curves.svg`.
public final class MetricsLog {
    public let directory: String
    private let jsonl: FileHandle
    private let tensorBoard: TensorBoardWriter
    private var trainPoints: [(step: Int, loss: Double, accuracy: Double)] = []
    private var evalPoints: [(step: Int, loss: Double, accuracy: Double)] = []

    public init(directory: String, run: [String: Any]) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TrainingError("\(directory): cannot create the log folder (\(error.localizedDescription))")
        }
        let path = "\(directory)/metrics.jsonl"
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw TrainingError("\(path): cannot write") }
        handle.seekToEndOfFile()
        jsonl = handle
        tensorBoard = try TensorBoardWriter(directory: directory)
        let data = try JSONSerialization.data(withJSONObject: run, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write([UInt8](data), to: "\(directory)/run.json")
        loadHistory(path)
    }

    deinit { try? jsonl.close() }

    /// Earlier points of a resumed run, so the curves continue.
    private func loadHistory(_ path: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = object["step"] as? Int, let loss = object["loss"] as? Double,
                  let accuracy = object["accuracy"] as? Double else { continue }
            if object["kind"] as? String == "eval" { evalPoints.append((step, loss, accuracy)) } else { trainPoints.append((step, loss, accuracy)) }
        }
    }

    /// `gradNorm`: the L2 norm of the averaged gradient the optimizer applied at `step` (Lightning's `grad_2.0_norm_total`).
    public func logTrain(step: Int, epoch: Double, loss: Double, accuracy: Double, lr: Double, imagesPerSecond: Double,
                         gradNorm: Double, badSamples: Int = 0) {
        var record: [String: Any] = ["kind": "train", "step": step, "epoch": epoch, "loss": loss, "accuracy": accuracy, "lr": lr,
                                     "images_per_second": imagesPerSecond, "time": Date().timeIntervalSince1970]
        if badSamples > 0 { record["bad_samples_replaced"] = badSamples }
        // A skipped (non-finite) step has no norm JSON can hold.
        if gradNorm.isFinite { record["grad_norm"] = gradNorm }
        write(record)
        tensorBoard.add(scalars: [("train/loss", loss), ("train/accuracy", accuracy), ("train/lr", lr),
                                  ("train/images_per_second", imagesPerSecond)] + (gradNorm.isFinite ? [("train/grad_norm", gradNorm)] : []),
                        step: step)
        trainPoints.append((step, loss, accuracy))
    }

    /// One evaluation; `accuracy_top5` where Acc@5 applies, `mean_iou` for segmentation (and
    /// the same under `eval/` in TensorBoard).
    /// The EMA's evaluation: `ema_loss`, `ema_accuracy` (and `ema_accuracy_top5`, `ema_mean_iou`).
    public func logEMAEval(step: Int, loss: Double, accuracy: Double, top5Accuracy: Double?, meanIoU: Double?) {
        var record: [String: Any] = ["kind": "eval_ema", "step": step, "ema_loss": loss, "ema_accuracy": accuracy,
                                     "time": Date().timeIntervalSince1970]
        var scalars = [("eval/ema_loss", loss), ("eval/ema_accuracy", accuracy)]
        if let top5Accuracy { record["ema_accuracy_top5"] = top5Accuracy; scalars.append(("eval/ema_accuracy_top5", top5Accuracy)) }
        if let meanIoU { record["ema_mean_iou"] = meanIoU; scalars.append(("eval/ema_mean_iou", meanIoU)) }
        write(record)
        tensorBoard.add(scalars: scalars, step: step)
    }

    public func logEval(step: Int, epoch: Double, loss: Double, accuracy: Double, top5Accuracy: Double? = nil,
                        meanIoU: Double? = nil, samples: Int) {
        var record: [String: Any] = ["kind": "eval", "step": step, "epoch": epoch, "loss": loss, "accuracy": accuracy,
                                     "samples": samples, "time": Date().timeIntervalSince1970]
        var scalars = [("eval/loss", loss), ("eval/accuracy", accuracy)]
        if let top5Accuracy {
            record["accuracy_top5"] = top5Accuracy
            scalars.append(("eval/accuracy_top5", top5Accuracy))
        }
        if let meanIoU {
            record["mean_iou"] = meanIoU
            scalars.append(("eval/mean_iou", meanIoU))
        }
        write(record)
        tensorBoard.add(scalars: scalars, step: step)
        evalPoints.append((step, loss, accuracy))
        tensorBoard.flush()
        try? AtomicFile.write(Array(CurvesSVG.render(train: trainPoints, eval: evalPoints).utf8), to: "\(directory)/curves.svg")
    }

    private func write(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        jsonl.write(data + Data("\n".utf8))
    }
}

/// Loss and accuracy against step, as a self-contained SVG.
enum CurvesSVG {
    static func render(train: [(step: Int, loss: Double, accuracy: Double)],
                       eval: [(step: Int, loss: Double, accuracy: Double)]) -> String {
        let (w, h, pad) = (360.0, 220.0, 40.0)
        let maxStep = Double(max((train.map(\.step) + eval.map(\.step)).max() ?? 1, 1))
        func panel(_ x0: Double, _ title: String, _ series: [([Double], [Int], String, String)], fixedMax: Double?) -> String {
            let values = series.flatMap(\.0).filter(\.isFinite)
            let top = fixedMax ?? max(values.max() ?? 1, 1e-6)
            var svg = "<g transform=\"translate(\(x0),0)\"><text x=\"\(w / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">\(title)</text>"
            svg += "<rect x=\"\(pad)\" y=\"\(pad / 2 + 10)\" width=\"\(w - pad - 10)\" height=\"\(h - pad - 20)\" fill=\"none\" stroke=\"#888\"/>"
            svg += "<text x=\"\(pad - 4)\" y=\"\(pad / 2 + 14)\" text-anchor=\"end\" font-size=\"10\">\(String(format: "%.3g", top))</text>"
            svg += "<text x=\"\(pad - 4)\" y=\"\(h - 10)\" text-anchor=\"end\" font-size=\"10\">0</text>"
            svg += "<text x=\"\(w - 10)\" y=\"\(h + 2)\" text-anchor=\"end\" font-size=\"10\">step \(Int(maxStep))</text>"
            for (ys, steps, colour, label) in series where !ys.isEmpty {
                let points = zip(steps, ys).filter { $0.1.isFinite }.map { step, y in
                    String(format: "%.1f,%.1f", pad + (w - pad - 10) * Double(step) / maxStep, h - 10 - (h - pad - 20) * min(y / top, 1))
                }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(points)\"><title>\(label)</title></polyline>"
            }
            return svg + "</g>"
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(2 * w + 20)\" height=\"\(h + 20)\" font-family=\"sans-serif\">"
        svg += panel(0, "loss (blue: train, orange: eval)", [(train.map(\.loss), train.map(\.step), "#1f77b4", "train"),
                                                             (eval.map(\.loss), eval.map(\.step), "#ff7f0e", "eval")], fixedMax: nil)
        svg += panel(w + 20, "accuracy", [(train.map(\.accuracy), train.map(\.step), "#1f77b4", "train"),
                                          (eval.map(\.accuracy), eval.map(\.step), "#ff7f0e", "eval")], fixedMax: 1)
        return svg + "</svg>\n"
    }
}
