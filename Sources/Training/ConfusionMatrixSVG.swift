import Foundation

extension ConfusionMatrix {
    /// A heat map a person can open: each row (true class) shaded by the share of its positions
    /// predicted as each class, the count written in cells large enough to read.
    public func svg(classNames: [String]?) -> String {
        let cell = classes <= 20 ? 36 : max(4, 720 / max(classes, 1))
        let label = classes <= 50 ? 110 : 10
        let side = label + cell * classes
        let names = (0..<classes).map { Self.escaped(classNames?[safe: $0] ?? String($0)) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(side + 80)\" height=\"\(side + 40)\" "
            + "font-family=\"sans-serif\" font-size=\"11\">\n"
        svg += "<text x=\"\(label)\" y=\"14\">predicted →   (rows: true class; shade: share of the row)</text>\n"
        for t in 0..<classes {
            let total = (0..<classes).reduce(0.0) { $0 + self[t, $1] }
            let y = 30 + label + t * cell
            if classes <= 50 {
                svg += "<text x=\"\(label - 4)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"end\">\(names[t])</text>\n"
            }
            for p in 0..<classes {
                let share = total > 0 ? self[t, p] / total : 0
                let shade = Int((1 - share) * 255)
                let x = label + p * cell
                svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" "
                    + "fill=\"rgb(\(shade),\(shade),255)\" stroke=\"#ccc\"/>\n"
                if cell >= 30 {
                    let ink = share > 0.5 ? "white" : "black"
                    svg += "<text x=\"\(x + cell / 2)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"middle\" fill=\"\(ink)\">"
                        + "\(Int(self[t, p]))</text>\n"
                }
            }
        }
        if classes <= 50 {
            for p in 0..<classes {
                let x = label + p * cell + cell / 2
                svg += "<text x=\"\(x)\" y=\"\(30 + label - 4)\" transform=\"rotate(-60 \(x) \(30 + label - 4))\">\(names[p])</text>\n"
            }
        }
        return svg + "</svg>\n"
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
