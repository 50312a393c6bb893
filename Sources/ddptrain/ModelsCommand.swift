import ArgumentParser
import Foundation
import Training

/// `ddptrain models [--json]`: the registry with parameter counts and forward GFLOPs.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the models with parameters and forward GFLOPs at their default input.")

    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let rows = ModelCatalogEntry.all
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        print(pad("model", 14) + pad("parameters", 13, right: true) + pad("GFLOPs", 9, right: true) + "  "
              + pad("input", 13) + pad("classes", 7, right: true) + "  summary")
        for row in rows {
            let input = row.input.map(String.init).joined(separator: "x")
            let line = pad(row.name, 14) + pad(grouped(row.parameters), 13, right: true)
                + pad(String(format: "%.2f", row.gflops), 9, right: true) + "  " + pad(input, 13)
            print(line + pad(String(row.classes), 7, right: true) + "  " + row.summary)
        }
        print("GFLOPs: one image's forward pass (multiply-adds x 2); a training step costs about 3x.")
    }
}

func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return right ? fill + s : s + fill
}

/// 11689512 → "11,689,512".
func grouped(_ n: Int) -> String {
    var out = ""
    for (i, c) in String(n).reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}
