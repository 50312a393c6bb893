import Autograd
import Kernels
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
        var h = FNV1a()
        for line in lines { h.add(line.utf8); h.add([0x0A]) }
        return h.value
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
