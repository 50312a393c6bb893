import ArgumentParser
import Foundation
import Training

/// `ddptrain predict --checkpoint CKPT image…`: the top classes of each image (or, for a
/// segmentation model, a mask PNG per image), through the data set's evaluation transform.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict", abstract: "Classify image files (JPEG, PNG) with a trained checkpoint, or segment them.")

    @Option(help: "A ddptrain checkpoint.") var checkpoint: String
    @Option(help: "Refuse a checkpoint of any other model.") var model: String?
    @Option(help: "How many classes to list per image.") var top = 5
    @Flag(help: "One JSON object per image: {\"file\": …, \"top5\": [{\"index\": …, \"name\": …, \"probability\": …}, …]} (top<K> with --top K).")
    var json = false
    @Option(help: "Segmentation models: the folder for the mask PNGs (<image name>_mask.png, pixel value = class index).")
    var maskDir = "."
    @Flag(help: "Segmentation models: also write <image name>_overlay.png, the mask's classes drawn over the image the model saw.")
    var overlay = false
    @Option(help: "Threads for the model.") var threads: Int?
    @Argument(help: "Image files.") var images: [String]

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image file") }
        guard top > 0 else { throw ValidationError("--top must be positive, got \(top)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be positive, got \(threads)") }
    }

    func run() throws {
        ProcessRuntime.prepareCompute()
        ProcessRuntime.applyThreads(threads, localRanks: 1)
        do {
            let predictor = try Predictor(checkpoint: checkpoint, expectedModel: model)
            if predictor.spec.isSegmentation {
                try writeMasks(predictor)
            } else {
                for (file, scores) in zip(images, try predictor.classify(images, top: top)) { printScores(file, scores) }
            }
        } catch {
            throw CleanExit.error(error)
        }
    }

    func printScores(_ file: String, _ scores: [Predictor.ClassScore]) {
        if json {
            let entries = scores.map { score -> [String: Any] in
                ["index": score.index, "name": score.name ?? NSNull(), "probability": score.probability]
            }
            printJSON(["file": file, "top\(top)": entries])
        } else {
            print(file)
            for (rank, score) in scores.enumerated() {
                let label = score.name.map { "\($0) (\(score.index))" } ?? "class \(score.index)"
                print(String(format: "  %d. %@  %.4f", rank + 1, label, score.probability))
            }
        }
    }

    func writeMasks(_ predictor: Predictor) throws {
        for (file, mask) in zip(images, try predictor.segment(images)) {
            let (path, overlayPath) = try predictor.write(mask, of: file, into: maskDir, overlay: overlay)
            let shares = mask.classFractions.enumerated().filter { $0.element > 0 }
            if json {
                let classes = shares.map { share -> [String: Any] in
                    ["index": share.offset, "name": predictor.spec.className(share.offset) ?? NSNull(), "fraction": share.element]
                }
                var object: [String: Any] = ["file": file, "mask": path, "classes": classes]
                if let overlayPath { object["overlay"] = overlayPath }
                printJSON(object)
            } else {
                let text = shares.map { String(format: "%@ %.1f%%", predictor.spec.className($0.offset) ?? "class \($0.offset)", 100 * $0.element) }
                print("\(file): mask \(path)\(overlayPath.map { ", overlay \($0)" } ?? "") (\(text.joined(separator: ", ")))")
            }
        }
    }

    func printJSON(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        print(String(decoding: data, as: UTF8.self))
    }
}
