import Distributed
import Foundation
import Kernels

/// Rank 0's console: a line every few steps, a live progress line on a terminal, evaluation
/// results, the start-up summary. Other ranks print only errors, prefixed with their rank.
public final class Console: @unchecked Sendable {
    public let rank: Int
    public let isTerminal: Bool
    private var progressShown = false

    public init(rank: Int) {
        self.rank = rank
        // mpirun gives every rank a pseudo-terminal even when its own output goes to a file, so
        // the live bar is for runs without mpirun; under mpirun the log lines carry the progress.
        isTerminal = isatty(STDOUT_FILENO) != 0 && !MPICommunicator.isLaunchedByMPI
    }

    public func info(_ line: String) {
        guard rank == 0 else { return }
        clearProgress()
        print(line)
        System.flushOutput()
    }

    /// Also receives every warning (tests).
    public var onWarning: (@Sendable (String) -> Void)?

    /// Printed by whichever rank meets it (a bad file on one node), prefixed with its rank.
    public func warning(_ message: String) {
        onWarning?(message)
        System.printError(rank == 0 ? "ddptrain: warning: \(message)" : "ddptrain[rank \(rank)]: warning: \(message)")
    }

    public func error(_ message: String) {
        clearProgress()
        System.printError(rank == 0 ? "ddptrain: error: \(message)" : "ddptrain[rank \(rank)]: error: \(message)")
    }

    /// A bar for the current epoch, redrawn in place (terminals only).
    public func progress(step: Int, of total: Int, text: String) {
        guard rank == 0, isTerminal, total > 0 else { return }
        let width = 24
        let filled = min(width, width * step / total)
        print("\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] " + text,
              terminator: "\u{1B}[K")
        System.flushOutput()
        progressShown = true
    }

    private func clearProgress() {
        if progressShown { print("\r\u{1B}[K", terminator: ""); progressShown = false }
    }

    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds)
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }
}
