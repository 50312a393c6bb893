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
        // Every kind of value is checked for its type, naming the key and what it must be.
        let wrong = ["batch_size: 2.5": "a whole number", "lr: fast": "a number", "milestones: [a, b]": "a list of numbers",
                     "sync_bn: 3": "true or false", "optimizer: adam": "sgd or adamw", "npy_layout: hwc": "auto, nchw or nhwc"]
        for (line, expected) in wrong {
            XCTAssertThrowsError(try TrainingConfig().merging(yaml: line, source: "c.yaml"), line) {
                XCTAssertTrue("\($0)".contains(expected) && "\($0)".contains("c.yaml: key '\(line.prefix { $0 != ":" })'"), "\(line): \($0)")
            }
        }
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
        XCTAssertThrowsError(try TrainingConfig().merging(yaml: "stem: tiny\n", source: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("c.yaml: key 'stem' must be imagenet or cifar, got tiny"), "\($0)")
        }
        XCTAssertThrowsError(try TrainingConfig().merging(yaml: "optimizer: adam\n", source: "c.yaml")) {
            XCTAssertTrue("\($0)".contains("key 'optimizer' must be sgd or adamw, got adam"), "\($0)")
        }
    }

    /// A value for a setting that differs from `other` and parses as the setting's kind.
    static func sample(_ setting: ConfigSetting, unlike other: Any?) -> (flag: [String], json: Any) {
        switch setting.value {
        case .toggle:
            let on = !((other as? Bool) ?? false)
            return ([on ? setting.flag! : "\(setting.flag!)=false"], on)
        case .integer:
            let n = ((other as? Int) ?? 0) + 7
            return ([setting.flag!, "\(n)"], n)
        case .number:
            let x = ((other as? Double) ?? 0) + 0.25
            return ([setting.flag!, "\(x)"], x)
        case .numbers:
            let first = ((other as? [Double])?.first ?? 0) + 0.25
            return ([setting.flag!, "\(first),0.125"], [first, 0.125])
        case .text:
            if let choices = setting.choices {
                let pick = choices.first { $0 != other as? String }!
                return ([setting.flag!, pick], pick)
            }
            let text = "\((other as? String) ?? "")x/y"
            return (["\(setting.flag!)=\(text)"], text)
        }
    }

    /// A value as JSON text, so that a Bool is not compared as NSNumber's 0 or 1.
    static func json(_ value: Any?) -> String {
        guard let value, let data = try? JSONSerialization.data(withJSONObject: [value]) else { return "nil" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Every config key but the model (the command's argument) is a flag of `train`; the flag
    /// parses and overrides what the config file says.
    func testEveryKeyIsAFlagThatOverridesTheFile() throws {
        XCTAssertEqual(ConfigSetting.all.map(\.key), TrainingConfig.keys)
        for setting in ConfigSetting.all {
            guard let flag = setting.flag else { XCTAssertEqual(setting.key, "model"); continue }
            XCTAssertTrue(setting.commands.contains(.train), "\(flag) is not a flag of train")
            let defaults = TrainingConfig().jsonObject()
            let inFile = Self.sample(setting, unlike: defaults[setting.key])
            let file = try TrainingConfig().merging(values: [setting.key: inFile.json], source: "c.yaml")
            let fromFlag = Self.sample(setting, unlike: inFile.json)
            let merged = try file.merging(arguments: fromFlag.flag, for: .train, commandName: "train")
            let value = merged.jsonObject()[setting.key]
            XCTAssertEqual(Self.json(value), Self.json(fromFlag.json), "\(flag) \(fromFlag.flag) over \(inFile.json)")
            XCTAssertNotEqual(Self.json(fromFlag.json), Self.json(inFile.json), flag)
        }
    }

    func testFlagsMeetTheFilesChecks() {
        func message(_ arguments: [String], _ command: ConfigSetting.Commands = .train) -> String {
            do { _ = try TrainingConfig().merging(arguments: arguments, for: command, commandName: "x"); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(["--eval-limit", "abc"]).contains("--eval-limit must be a whole number, got abc"))
        XCTAssertTrue(message(["--optimizer", "adam"]).contains("--optimizer must be sgd or adamw, got adam"))
        XCTAssertTrue(message(["--weight-decay"]).contains("--weight-decay needs a value"))
        XCTAssertTrue(message(["--learning-rate", "1"]).contains("unknown option '--learning-rate'"))
        XCTAssertTrue(message(["--epochs", "3"], .bench).contains("--epochs is not a setting"))
        XCTAssertTrue(message(["--sync-bn=maybe"]).contains("true or false"))
        XCTAssertTrue(message(["resnet18"]).contains("unexpected argument 'resnet18'"))
        XCTAssertEqual(message(["--lr=-0.5", "--no-sync-bn", "--milestones", "[3, 4]"]), "", "parses; validate() judges the values")
    }

    func testModelOptionsFollowAnotherDataSet() throws {
        let recipe = try TrainingConfig().merging(yaml: "model: resnet18\nin_channels: 1\nstem: cifar\nnum_classes: 10\n", source: "r.yaml")
        var config = try recipe.merging(arguments: ["--data", "imagefolder"], for: .train, commandName: "train")
        let dropped = config.leaveModelOptionsToData(recipe: recipe, commandLine: ["data": "imagefolder"])
        XCTAssertEqual(Set(dropped), ["in_channels 1", "stem cifar", "num_classes 10"])
        XCTAssertNil(config.inChannels); XCTAssertNil(config.stem); XCTAssertNil(config.numClasses)
        var chosen = try recipe.merging(arguments: ["--data", "imagefolder", "--stem", "cifar"], for: .train, commandName: "train")
        XCTAssertEqual(Set(chosen.leaveModelOptionsToData(recipe: recipe, commandLine: ["data": "imagefolder", "stem": "cifar"])),
                       ["in_channels 1", "num_classes 10"])
        XCTAssertEqual(chosen.stem, .cifar, "what the command line sets stays")
        XCTAssertNil(chosen.inChannels)
        var same = recipe
        XCTAssertEqual(same.leaveModelOptionsToData(recipe: recipe, commandLine: ["data": recipe.data]), [], "the recipe's own data set")
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
