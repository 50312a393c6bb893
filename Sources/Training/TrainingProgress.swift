/// Where a run stands, saved with every checkpoint.
public struct TrainingProgress: Codable, Equatable, Sendable {
    public var epoch = 0
    /// Optimizer steps done in `epoch`.
    public var stepInEpoch = 0
    /// Samples all ranks together consumed in `epoch` (how the sampler resumes, on any world size).
    public var samplesInEpoch = 0
    public var globalStep = 0
    public var worldSize = 1
    public var globalBatch = 0
    public var seed: UInt64 = 0
    /// The best evaluation's headline metric (Acc@1, or mean IoU for segmentation), which
    /// `best.safetensors` follows; the key keeps its name so older checkpoints resume.
    public var bestAccuracy: Double?
    public var lrFactor = 1.0
    public init() {}

    enum CodingKeys: String, CodingKey {
        case epoch, stepInEpoch = "step_in_epoch", samplesInEpoch = "samples_in_epoch", globalStep = "global_step"
        case worldSize = "world_size", globalBatch = "global_batch", seed, bestAccuracy = "best_accuracy", lrFactor = "lr_factor"
    }
}
