import Distributed
import Foundation
import Kernels
import Models
import Training
import XCTest

/// `ddptrain bench`'s measurement, as the command runs it, on one process.
final class BenchmarkTests: XCTestCase {
    func config(precision: Precision) throws -> TrainingConfig {
        try Benchmark.config(model: "resnet18", arguments: ["--image-size", "16", "--in-channels", "1", "--num-classes", "4",
                                                           "--stem", "cifar", "--batch-size", "4", "--precision", precision.rawValue])
    }

    func testTimedStepsAndTheirPhasesAreReported() throws {
        let config = try config(precision: .fp32)
        let result = try Benchmark(config: config, steps: 3, profile: false)
            .run(communicator: SingleProcessCommunicator(), console: Console(rank: 1))
        XCTAssertEqual(result.steps, 3)
        XCTAssertEqual(result.worldSize, 1)
        XCTAssertGreaterThan(result.stepSeconds, 0)
        XCTAssertEqual(result.imagesPerSecond, 4 / result.stepSeconds, accuracy: 1e-9 * result.imagesPerSecond)
        // Medians of phases inside the steps cannot add up to more than a step (with a little timer slack).
        XCTAssertLessThanOrEqual(result.forward + result.backward, 1.05 * result.stepSeconds + 1e-3)
        // A training image costs 3 forward passes' FLOPs, as the registry counts them for these options.
        let entry = try ModelRegistry.entry("resnet18")
        XCTAssertEqual(result.flopsPerImage, 3 * entry.forwardFLOPs(config.modelOptions), accuracy: 1)
        XCTAssertGreaterThan(result.peakGFLOPs, 0)
        XCTAssertEqual(result.communication, 0, "one rank all-reduces nothing")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try result.json().utf8)) as? [String: Any])
        XCTAssertEqual(json["model"] as? String, "resnet18")
        XCTAssertEqual(json["batch_per_rank"] as? Int, 4)
        XCTAssertEqual(try XCTUnwrap(json["images_per_second"] as? Double), result.imagesPerSecond, accuracy: 1e-9)
        XCTAssertTrue(result.text.contains(String(format: "%.2f images/s", result.imagesPerSecond)), result.text)
    }

    /// bench's precision applies to its own steps only, not to whatever runs after it in the process.
    func testPrecisionIsScopedToTheBenchmark() throws {
        XCTAssertEqual(ComputePrecision.current, .fp32)
        let result = try Benchmark(config: try config(precision: .bf16Mixed), steps: 1, profile: false)
            .run(communicator: SingleProcessCommunicator(), console: Console(rank: 1))
        XCTAssertEqual(result.config.precision, .bf16Mixed)
        XCTAssertEqual(ComputePrecision.current, .fp32)
    }

    func testUnknownSettingsAreRefusedByName() {
        XCTAssertThrowsError(try Benchmark.config(model: "resnet18", arguments: ["--epochs", "3"])) { error in
            XCTAssertTrue("\(error)".contains("--epochs"), "\(error)")
        }
    }
}
