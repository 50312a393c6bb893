import ArgumentParser
import Training

/// `ddptrain bench MODEL`: training throughput on synthetic data, with the time split by phase,
/// model FLOP utilisation against the matrix-product peak measured here, and peak memory
/// (`Benchmark`).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure training speed on synthetic data.")

    @Argument(help: "Model name.") var model: String
    @Option(help: "Timed steps (after 2 warm-up steps).") var steps = 10
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Also print the time of every operation, forward and backward (rank 0).") var profile = false
    @Argument(parsing: .allUnrecognized, help: .hidden) var settings: [String] = []

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
    }

    func run() throws {
        ProcessRuntime.withCommunicator(threads: ProcessRuntime.threadsFlag(settings, for: .bench, commandName: "bench")) { communicator, console in
            let config = try agree(communicator, "settings") { try Benchmark.config(model: model, arguments: settings) }
            let result = try Benchmark(config: config, steps: steps, profile: profile).run(communicator: communicator, console: console)
            console.info(json ? try result.json() : result.text)
            return 0
        }
    }
}
