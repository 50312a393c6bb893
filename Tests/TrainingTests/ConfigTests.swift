import Foundation
import Training
import XCTest

final class ConfigTests: XCTestCase {
    func testYAMLOverridesDefaultsAndTypesAreChecked() throws {
        let config = try TrainingConfig().merging(yaml: """
            model: resnet18
            batch_size: 32
            lr: 0.2
            milestones: [10, 20]
            sync_bn: true
            image_size: ~
            """, source: "c.yaml")
        XCTAssertEqual(config.model, "resnet18")
        XCTAssertEqual(config.batchSize, 32)
        XCTAssertEqual(config.lr, 0.2)
        XCTAssertEqual(config.milestones, [10, 20])
        XCTAssertTrue(config.syncBN)
        XCTAssertEqual(config.epochs, TrainingConfig().epochs, "keys the file does not set keep their defaults")
        XCTAssertNoThrow(try config.validate())
    }

    func testUnknownKeyNamesTheKeyAndTheFile() {
        XCTAssertThrowsError(try TrainingConfig().merging(yaml: "model: resnet18\nlearning_rate: 0.1\n", source: "configs/x.yaml")) {
            XCTAssertTrue("\($0)".contains("configs/x.yaml: unknown key 'learning_rate'"), "\($0)")
        }
    }

    func testWrongTypesAndBadValues() {
        XCTAssertThrowsError(try TrainingConfig().merging(yaml: "batch_size: lots\n", source: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("'batch_size'"), "\($0)")
        }
        XCTAssertThrowsError(try TrainingConfig().merging(yaml: "- a\n- b\n", source: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("mapping"), "\($0)")
        }
        XCTAssertThrowsError(try TrainingConfig().merging(yaml: "model: [unclosed\n", source: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("not valid YAML"), "\($0)")
        }
        var config = TrainingConfig()
        config.lr = -0.1
        XCTAssertThrowsError(try config.validate()) { XCTAssertTrue("\($0)".contains("lr must be a positive number, got -0.1")) }
        config = TrainingConfig()
        config.batchSize = 0
        XCTAssertThrowsError(try config.validate()) { XCTAssertTrue("\($0)".contains("batch_size must be positive, got 0")) }
        config = TrainingConfig()
        config.model = "resnet19"
        XCTAssertThrowsError(try config.validate()) { XCTAssertTrue("\($0)".contains("unknown model 'resnet19'")) }
        config = TrainingConfig()
        config.stem = "tiny"
        XCTAssertThrowsError(try config.validate()) { XCTAssertTrue("\($0)".contains("stem must be imagenet or cifar")) }
    }

    /// Every YAML in configs/ parses, validates, and names a model the registry has.
    func testShippedConfigsAreValid() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs").path
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }
        XCTAssertGreaterThanOrEqual(files.count, 10)
        for file in files {
            let config = try TrainingConfig().merging(yamlFile: "\(folder)/\(file)")
            XCTAssertNoThrow(try config.validate(), file)
        }
    }
}
