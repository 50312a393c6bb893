import Foundation
import Yams

/// The command line's config flags: every `ConfigSetting` of a subcommand as `--flag value`,
/// `--flag=value`, `--toggle` / `--no-toggle`, lists as `--milestones 30,60,80`. They become the
/// same key-value overlay a YAML file is, so both meet the same checks and messages.
public enum CommandLineSettings {
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Config values keyed by config key, from the arguments a subcommand did not parse itself.
    public static func parse(_ arguments: [String], for command: ConfigSetting.Commands, commandName: String) throws -> [String: Any] {
        var values: [String: Any] = [:]
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            i += 1
            guard argument.hasPrefix("--") else {
                throw Invalid(description: "unexpected argument '\(argument)' (`ddptrain \(commandName) MODEL [options]`; see --help)")
            }
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            let name = parts[0]
            var inline = parts.count == 2 ? parts[1] : nil
            guard let (setting, negated) = lookUp(name) else {
                throw Invalid(description: "unknown option '\(name)' for `ddptrain \(commandName)`; `ddptrain \(commandName) --help` lists them")
            }
            guard setting.commands.contains(command) else {
                throw Invalid(description: "\(name) is not a setting of `ddptrain \(commandName)`")
            }
            if setting.value == .toggle {
                guard let text = inline else { values[setting.key] = !negated; continue }
                guard !negated, let on = ["true": true, "false": false][text.lowercased()] else {
                    throw Invalid(description: "\(name) takes true or false, got '\(text)'")
                }
                values[setting.key] = on
                continue
            }
            if negated { throw Invalid(description: "unknown option '\(name)': \(setting.flag!) is not a switch") }
            if inline == nil, i < arguments.count, !arguments[i].hasPrefix("--") {
                inline = arguments[i]
                i += 1
            }
            guard let text = inline else { throw Invalid(description: "\(name) needs a value") }
            values[setting.key] = typed(text, as: setting.value)
        }
        return values
    }

    /// The setting a flag names, and whether it is the `--no-` form of a switch.
    static func lookUp(_ flag: String) -> (ConfigSetting, negated: Bool)? {
        let key = flag.dropFirst(2).replacingOccurrences(of: "-", with: "_")
        if let setting = ConfigSetting.named(key), setting.flag != nil { return (setting, false) }
        if key.hasPrefix("no_"), let setting = ConfigSetting.named(String(key.dropFirst(3))), setting.flag != nil {
            return (setting, true)
        }
        return nil
    }

    /// Numbers as YAML reads them (so the decoder checks their type as it does a file's); text as typed.
    static func typed(_ text: String, as value: ConfigSetting.Value) -> Any {
        switch value {
        case .text, .toggle: return text
        case .integer, .number: return scalar(text)
        case .numbers:
            let inner = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
            return inner.split(separator: ",").map { scalar($0.trimmingCharacters(in: .whitespaces)) }
        }
    }

    static func scalar(_ text: String) -> Any {
        guard let parsed = try? Yams.load(yaml: text), parsed is Int || parsed is Double else { return text }
        return parsed
    }

    /// The config flags of a subcommand, grouped, for its --help.
    public static func help(for command: ConfigSetting.Commands) -> String {
        var lines: [String] = []
        for group in ConfigSetting.Group.allCases {
            let settings = ConfigSetting.all.filter { $0.group == group && $0.commands.contains(command) && $0.flag != nil }
            guard !settings.isEmpty else { continue }
            lines.append("\(group.rawValue.uppercased()):")
            for setting in settings {
                let usage: String
                switch setting.value {
                case .toggle: usage = setting.flag!
                case .text(let placeholder): usage = "\(setting.flag!) <\(placeholder)>"
                case .integer: usage = "\(setting.flag!) <n>"
                case .number: usage = "\(setting.flag!) <x>"
                case .numbers: usage = "\(setting.flag!) <x,y,...>"
                }
                let padded = usage.count < 34 ? usage + String(repeating: " ", count: 34 - usage.count) : usage + "\n" + String(repeating: " ", count: 36)
                lines.append("  \(padded)\(setting.help)")
            }
            lines.append("")
        }
        lines.append("Every flag is also a config key in snake_case (--weight-decay is weight_decay); flags override the config file.")
        return lines.joined(separator: "\n")
    }
}
