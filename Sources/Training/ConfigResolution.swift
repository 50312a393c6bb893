import Foundation

/// How `ddptrain train` arrives at its settings: flags override the config file (the one given, or
/// `configs/MODEL.yaml` when it exists), which overrides the defaults.
extension TrainingConfig {
    /// The settings of a training run of `model`; `console` says which config file was read and
    /// which of its model options were left to another data set's defaults.
    public static func resolved(model: String, configFile: String?, arguments: [String], console: Console) throws -> TrainingConfig {
        var defaults = TrainingConfig()
        defaults.model = model
        var recipe = defaults
        if let file = configFile ?? defaultFile(for: model) {
            recipe = try defaults.merging(yamlFile: file)
            console.info("config: \(file)")
            if recipe.model != model {
                throw TrainingConfig.Invalid("\(file) is a config for \(recipe.model), not \(model)")
            }
        }
        let flags = try CommandLineSettings.parse(arguments, for: .train, commandName: "train")
        var resolved = try recipe.merging(commandLine: flags)
        let dropped = resolved.leaveModelOptionsToData(recipe: recipe, commandLine: flags)
        if !dropped.isEmpty {
            console.info("--data \(resolved.data): the config's model options for \(recipe.data) (\(dropped.joined(separator: ", "))) "
                         + "are left to \(resolved.data)'s defaults; set them with flags to choose")
        }
        try resolved.validate()
        return resolved
    }

    /// `configs/<model>.yaml` next to the working directory or to the ddptrain checkout.
    public static func defaultFile(for model: String) -> String? {
        var candidates = ["configs/\(model).yaml"]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.append(dir.appendingPathComponent("configs/\(model).yaml").path)
                candidates.append(dir.appendingPathComponent("share/ddptrain/configs/\(model).yaml").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }
}
