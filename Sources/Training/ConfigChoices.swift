import Kernels

/// The settings that take one of a few named values. Their raw values are what a YAML file or
/// a flag says; decoding checks them, and every switch over them is exhaustive.

/// `lr_scaling`: the learning rate is given for a global batch of 256 and scaled linearly, or used as is.
public enum LRScaling: String, Codable, CaseIterable, Sendable { case linear, none }

/// `schedule`: how the learning rate decays after warmup.
public enum ScheduleKind: String, Codable, CaseIterable, Sendable { case constant, step, multistep, cosine }

/// `optimizer`.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable { case sgd, adamw }

/// `non_finite`: what a NaN or Inf loss or gradient on any rank does.
public enum NonFinitePolicy: String, Codable, CaseIterable, Sendable { case skip, stop }

/// `precision`, with Lightning's names: `fp32`, or `bf16-mixed`: the matrix products of
/// convolutions, linear layers and attention take bf16 operands and accumulate in float32;
/// weights, optimizer state, normalisation, softmax, the loss, the all-reduce and checkpoints
/// stay float32, so a checkpoint moves freely between the two.
public enum Precision: String, Codable, CaseIterable, Sendable {
    case fp32
    case bf16Mixed = "bf16-mixed"

    public var compute: ComputePrecision { self == .fp32 ? .fp32 : .bf16 }

    /// What the start-up summary and `bench` say.
    public var summary: String { self == .fp32 ? "fp32" : "bf16-mixed, \(BF16GEMM.description)" }
}
