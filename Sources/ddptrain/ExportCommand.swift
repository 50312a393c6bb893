import ArgumentParser
import Kernels
import NN
import Training

/// `ddptrain export CHECKPOINT --out FILE.safetensors`: the model's weights alone, PyTorch names.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Write a checkpoint's model weights as safetensors.")

    @Argument(help: "A ddptrain checkpoint.") var checkpoint: String
    @Option(help: "The safetensors file to write.") var out: String

    func run() throws {
        do {
            let saved = try Checkpoint.load(checkpoint)
            let entries = saved.modelState.map {
                SafeTensors.Entry(name: $0.name, tensor: $0.tensor, dtype: $0.name.hasSuffix("num_batches_tracked") ? .I64 : .F32)
            }
            try SafeTensors.write(entries, metadata: ["format": "pt"], to: out)
            print("wrote \(out): \(entries.count) tensors of \(saved.model) at step \(saved.progress.globalStep)")
        } catch {
            throw CleanExit.message("ddptrain: error: \(error)")
        }
    }
}

/// Prints the message to standard error and exits with status 1 (no stack trace).
enum CleanExit {
    static func message(_ text: String) -> ExitCode {
        System.printError(text)
        return ExitCode.failure
    }
}
