/// The settings ddptrain takes from the environment, declared in one place and checked once at
/// start-up (`validateAll`), so a malformed value is an error naming the variable instead of
/// being ignored where it is read. They stay environment variables where the ecosystem puts
/// such switches (Horovod's `HOROVOD_HIERARCHICAL_ALLREDUCE`): they concern the machine and the
/// MPI launch, not the training recipe, and `mpirun -x` carries them to every rank.
public struct EnvironmentSetting: Sendable {
    public let name: String
    public let help: String
    /// What a value must be, said in errors.
    let expected: String
    let isValid: @Sendable (String) -> Bool

    public static let bf16Backend = EnvironmentSetting(
        name: "DDPTRAIN_BF16_BACKEND", help: "emulated: bf16-mixed without oneDNN, even on a CPU with bf16 instructions",
        expected: "emulated or onednn") { ["emulated", "onednn"].contains($0.lowercased()) }
    public static let ringBytes = EnvironmentSetting(
        name: "DDPTRAIN_RING_BYTES", help: "buckets of at least this many bytes take our ring all-reduce instead of MPI's",
        expected: "a whole number of bytes >= 0") { Int($0).map { $0 >= 0 } ?? false }
    public static let hierarchicalAllReduce = EnvironmentSetting(
        name: "DDPTRAIN_HIERARCHICAL_ALLREDUCE", help: "1: all-reduce within each host, then across hosts, then broadcast",
        expected: "0 or 1") { $0 == "0" || $0 == "1" }
    public static let ranksPerHost = EnvironmentSetting(
        name: "DDPTRAIN_RANKS_PER_HOST", help: "with the hierarchical all-reduce: treat every N consecutive ranks as one host",
        expected: "a whole number >= 1") { Int32($0).map { $0 >= 1 } ?? false }

    public static let all = [bf16Backend, ringBytes, hierarchicalAllReduce, ranksPerHost]

    /// The value when set.
    public var value: String? { System.environment(name) }
    /// The value as a whole number when set and valid.
    public var integer: Int? { value.flatMap { isValid($0) ? Int($0) : nil } }
    /// True when set to 1 (switches).
    public var isOn: Bool { value == "1" }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Every setting that is set has a valid value, or the error names the first that does not.
    public static func validateAll() throws {
        for setting in all {
            if let value = setting.value, !setting.isValid(value) {
                throw Invalid(description: "\(setting.name) must be \(setting.expected), got '\(value)' (\(setting.help))")
            }
        }
    }
}
