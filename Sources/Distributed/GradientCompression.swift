/// `grad_compression`: how gradient buckets travel.
/// - `bf16` rounds each bucket to bf16 before its all-reduce (half the bytes on the wire; every
///   partial sum is taken in float32 and rounded back) and widens the result again, as PyTorch's
///   fp16 compression hook does with half the exponent range lost. No state.
/// - `powersgd` sends low-rank factors of each large gradient matrix with error feedback
///   (`PowerSGDBucket`), after `powersgd_warmup_steps` uncompressed steps, as PyTorch's PowerSGD
///   hook does. Its state (the factors Q and every rank's error) goes into checkpoints.
public enum GradientCompression: String, Codable, CaseIterable, Sendable {
    case none
    case bf16
    case powerSGD = "powersgd"
}
