import Autograd
import NN

/// What must agree on every rank before training: every parameter's and buffer's name and
/// shape, in order, and the training settings.
struct ModelSignature {
    let lines: [String]

    init(model: Module, settings: [String]) {
        lines = model.stateDict().map { "\($0.name) \($0.tensor.shape)" } + settings.map { "setting \($0)" }
    }

    /// FNV-1a over the lines.
    var hash: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for line in lines {
            for byte in line.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
            h = (h ^ 0x0A) &* 0x100_0000_01B3
        }
        return h
    }

    /// The first line where `other` differs, described for a person.
    func firstDifference(from other: ModelSignature) -> String {
        for i in 0..<max(lines.count, other.lines.count) {
            let mine = i < lines.count ? lines[i] : "(nothing)"
            let theirs = i < other.lines.count ? other.lines[i] : "(nothing)"
            if mine != theirs { return "entry \(i): rank 0 has '\(theirs)', this rank has '\(mine)'" }
        }
        return "no difference in the listed entries"
    }
}

/// An error every rank raises at the same point, so that all can exit cleanly without
/// aborting the others.
public protocol RankSymmetricError: Error {}

public struct RankMismatch: RankSymmetricError, CustomStringConvertible {
    public let description: String
}
