/// `grad_compression`: how gradient buckets travel. `bf16` rounds each bucket to bf16 before its
/// all-reduce (half the bytes on the wire; every partial sum is taken in float32 and rounded
/// back) and widens the result again, as PyTorch's fp16 compression hook does with half the
/// exponent range lost. No state: a checkpoint is the same either way.
public enum GradientCompression: String, Codable, CaseIterable, Sendable {
    case none
    case bf16
}
