import ArgumentParser
import Training

/// Prints "ddptrain: error: …" to standard error and exits with status 1 (no stack trace).
enum CleanExit {
    static func error(_ error: Error) -> ExitCode {
        Console(rank: 0).error("\(error)")
        return ExitCode.failure
    }
}
