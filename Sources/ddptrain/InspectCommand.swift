import ArgumentParser
import Foundation
import Training

/// `ddptrain inspect CHECKPOINT`: what a checkpoint holds, and whether it verifies.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show a checkpoint's step, config and verification.")

    @Argument(help: "A ddptrain checkpoint.") var checkpoint: String

    func run() throws {
        let saved: Checkpoint
        do { saved = try Checkpoint.load(checkpoint) } catch {
            print("\(checkpoint): verification FAILED")
            throw CleanExit.error(error)
        }
        let p = saved.progress
        let parameters = saved.modelState.filter { !$0.name.contains("running_") && !$0.name.hasSuffix("num_batches_tracked") }
            .reduce(0) { $0 + $1.tensor.count }
        print("""
            \(checkpoint): verified (checksum matches, format \(Checkpoint.formatVersion))
              model \(saved.model), \(saved.modelState.count) tensors, \(parameters) parameter values
              global step \(p.globalStep), epoch \(p.epoch + 1) (\(p.stepInEpoch) steps, \(p.samplesInEpoch) samples into it)
              world size \(p.worldSize), global batch \(p.globalBatch), seed \(p.seed), lr factor \(p.lrFactor)
              best eval accuracy \(p.bestAccuracy.map { String(format: "%.2f%%", 100 * $0) } ?? "none yet")
              optimizer state for \(saved.optimizerState.count) parameters
            config:
            """)
        let data = try JSONSerialization.data(withJSONObject: saved.config, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
