import Autograd
import Data
import Distributed
import Foundation
import Models
import Optim
import Yams

/// Everything a training run is made of. Built from the defaults, then a YAML file, then
/// command-line flags (each layer overrides the one before); keys are PyTorch-style snake_case.
public struct TrainingConfig: Codable, Equatable, Sendable {
    public var model = "resnet50"
    public var data = "fashion-mnist"
    public var dataDir: String?
    public var epochs = 10
    public var maxSteps: Int?
    /// Samples per rank per micro-batch.
    public var batchSize = 64
    /// The rate for a global batch of 256, scaled linearly to the actual global batch (Goyal et al.)
    /// unless `lrScaling` is `none`.
    public var lr = 0.1
    public var lrScaling = LRScaling.linear
    public var warmupEpochs = 0.0
    public var warmupStartFactor = 0.1
    public var schedule = ScheduleKind.cosine
    public var milestones: [Double] = [30, 60, 80]
    public var stepSize = 30.0
    public var gamma = 0.1
    public var minLRFactor = 0.0
    public var optimizer = OptimizerKind.sgd
    public var momentum = 0.9
    public var nesterov = false
    public var weightDecay = 1e-4
    /// Exclude BatchNorm/LayerNorm parameters and biases from weight decay.
    public var noDecayNormAndBias = true
    public var betas: [Double] = [0.9, 0.999]
    public var labelSmoothing = 0.0
    public var syncBN = false
    public var accumulate = 1
    public var seed: UInt64 = 0
    public var threads: Int?
    public var workers = 1
    public var dropLast = false
    public var checkpointDir: String?
    public var checkpointEvery = 0
    public var keep = 3
    public var resume: String?
    public var weights: String?
    public var logDir: String?
    public var logEvery = 20
    public var evalEvery = 0
    public var evalLimit: Int?
    public var numClasses: Int?
    public var inChannels: Int?
    public var stem: ResNet.Stem?
    public var imageSize: Int?
    public var zeroInitResidual = false
    /// Smaller than PyTorch's 25: the last bucket, complete only when backward ends, is all exposed on slow links.
    public var bucketCapMB = DataParallel.Options.defaultBucketCapMiB
    /// What a NaN or Inf loss or gradient does: `skip` the step or `stop` the run.
    public var nonFinite = NonFinitePolicy.stop
    /// What a sample that does not decode does: stop the run (`error`) or be replaced (`skip`).
    public var badSamples = BadSamplePolicy.error
    public var precision = Precision.fp32
    /// Seconds any collective may take before the job ends, naming the operation and the ranks missing.
    public var collectiveTimeout = defaultCollectiveTimeout
    public var gradCompression = GradientCompression.none
    /// PowerSGD's rank (PyTorch's `matrix_approximation_rank`).
    public var powersgdRank = DataParallel.Options.defaultPowerSGDRank
    /// Optimizer steps all-reduced uncompressed before PowerSGD starts (PyTorch's `start_powerSGD_iter`).
    public var powersgdWarmupSteps = DataParallel.Options.defaultPowerSGDWarmupSteps
    /// A Chrome/Perfetto trace of every rank, written at the end of the run.
    public var timeline: String?
    public var syntheticCount: Int?
    /// Per-channel normalisation of segfolder and npy images (default: ImageNet's for segfolder,
    /// computed from the training images for npy).
    public var mean: [Double]?
    public var std: [Double]?
    /// The mask value that labels no class (VOC's and torchvision's 255).
    public var ignoreIndex = 255
    public var npyLayout = ArrayLayout.auto
    /// Augment npy training images (padded random crop and flip).
    public var augment = true
    /// Comma-separated module or parameter names to freeze (`conv1,bn1,layer1`), or `backbone`
    /// for everything but the classifier head.
    public var freeze: String?
    /// The head's learning rate as a multiple of the base rate (fine-tuning).
    public var headLRFactor = 1.0
    /// torchvision's `--mixup-alpha` and `--cutmix-alpha` (0: off; both: one or the other per batch).
    public var mixupAlpha = 0.0
    public var cutmixAlpha = 0.0
    /// torchvision's `--model-ema-decay` (nil: no EMA) and `--model-ema-steps`.
    public var emaDecay: Double?
    public var emaEvery = 32
    /// torchvision's `--random-erase`: the probability of erasing a box of each training image.
    public var randomErase = 0.0
    /// torchvision's `--auto-augment` (imagefolder data): `ta_wide` is TrivialAugmentWide.
    public var autoAugment = AutoAugmentPolicy.none

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, data, dataDir = "data_dir", epochs, maxSteps = "max_steps", batchSize = "batch_size", lr
        case lrScaling = "lr_scaling", warmupEpochs = "warmup_epochs", warmupStartFactor = "warmup_start_factor"
        case schedule, milestones, stepSize = "step_size", gamma, minLRFactor = "min_lr_factor", optimizer, momentum
        case nesterov, weightDecay = "weight_decay", noDecayNormAndBias = "no_decay_norm_and_bias", betas
        case labelSmoothing = "label_smoothing", syncBN = "sync_bn", accumulate, seed, threads, workers
        case dropLast = "drop_last", checkpointDir = "checkpoint_dir", checkpointEvery = "checkpoint_every", keep, resume
        case weights, logDir = "log_dir", logEvery = "log_every", evalEvery = "eval_every", evalLimit = "eval_limit"
        case numClasses = "num_classes", inChannels = "in_channels", stem, imageSize = "image_size"
        case zeroInitResidual = "zero_init_residual", bucketCapMB = "bucket_cap_mb", nonFinite = "non_finite"
        case syntheticCount = "synthetic_count", badSamples = "bad_samples", precision
        case collectiveTimeout = "collective_timeout", gradCompression = "grad_compression", timeline
        case powersgdRank = "powersgd_rank", powersgdWarmupSteps = "powersgd_warmup_steps"
        case mean, std, ignoreIndex = "ignore_index", npyLayout = "npy_layout", augment
        case freeze, headLRFactor = "head_lr_factor", mixupAlpha = "mixup_alpha", cutmixAlpha = "cutmix_alpha"
        case emaDecay = "ema_decay", emaEvery = "ema_every", randomErase = "random_erase"
        case autoAugment = "auto_augment"
    }

    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Applies the keys of a YAML file on top of `self`.
    public func merging(yamlFile path: String) throws -> TrainingConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Invalid("\(path): cannot read the config file")
        }
        return try merging(yaml: text, source: path)
    }

    public func merging(yaml text: String, source: String) throws -> TrainingConfig {
        let parsed: Any?
        do { parsed = try Yams.load(yaml: text) } catch { throw Invalid("\(source): not valid YAML (\(error))") }
        guard let parsed else { return self }
        guard let map = parsed as? [String: Any] else { throw Invalid("\(source): the config must be a mapping of keys to values") }
        return try merging(values: map, source: source)
    }

    /// Applies `values` (config keys to YAML-typed values) on top of `self`; a YAML file and the
    /// command line both come through here, so both meet the same checks and messages.
    public func merging(values map: [String: Any], source: String, naming name: (String) -> String = { "key '\($0)'" })
        throws -> TrainingConfig {
        let known = Set(Self.keys)
        if let unknown = map.keys.sorted().first(where: { !known.contains($0) }) {
            throw Invalid("\(source): unknown key '\(unknown)'; known keys: \(Self.keys.sorted().joined(separator: ", "))")
        }
        // Encode self, overlay the values, decode: types and allowed values are checked by the decoder.
        var merged = jsonObject()
        for (key, value) in map { merged[key] = value is NSNull ? nil : value }
        do {
            return try JSONDecoder().decode(TrainingConfig.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            // Some decoding errors (a fraction for a whole number) carry no coding path: find the key by trying each alone.
            let key = context.codingPath.first?.stringValue ?? map.keys.sorted().first { key in
                var single = jsonObject()
                single[key] = map[key] is NSNull ? nil : map[key]
                return (try? JSONDecoder().decode(TrainingConfig.self, from: JSONSerialization.data(withJSONObject: single))) == nil
            } ?? "?"
            let value = String(describing: map[key] ?? "nil")
            if let choices = CodingKeys(stringValue: key).flatMap({ ConfigSetting.of($0).choices }) {
                throw Invalid("\(source): \(name(key)) must be \(Self.either(choices)), got \(value)")
            }
            let expected: String
            switch CodingKeys(stringValue: key).map({ ConfigSetting.of($0).value }) {
            case .integer?: expected = "a whole number"
            case .number?: expected = "a number"
            case .numbers?: expected = "a list of numbers"
            case .toggle?: expected = "true or false"
            case .text?, nil: expected = "text"
            }
            throw Invalid("\(source): \(name(key)) must be \(expected), got \(value)")
        } catch {
            throw Invalid("\(source): \(error)")
        }
    }

    /// "a, b or c".
    static func either(_ choices: [String]) -> String {
        choices.count < 2 ? choices.joined() : choices.dropLast().joined(separator: ", ") + " or " + choices.last!
    }

    /// Checks every value a user can get wrong; the message names the key and what would be right.
    public func validate() throws {
        func require(_ ok: Bool, _ message: @autoclosure () -> String) throws { if !ok { throw Invalid(message()) } }
        _ = try ModelRegistry.entry(model)
        try require(epochs > 0, "epochs must be positive, got \(epochs)")
        try require(maxSteps.map { $0 > 0 } ?? true, "max_steps must be positive, got \(maxSteps ?? 0)")
        try require(batchSize > 0, "batch_size must be positive, got \(batchSize)")
        try require(lr > 0 && lr.isFinite, "lr must be a positive number, got \(lr)")
        try require(warmupEpochs >= 0, "warmup_epochs must be >= 0, got \(warmupEpochs)")
        try require(gamma > 0, "gamma must be positive, got \(gamma)")
        try require(stepSize > 0, "step_size must be positive, got \(stepSize)")
        try require(momentum >= 0 && momentum < 1, "momentum must be in [0, 1), got \(momentum)")
        try require(!nesterov || momentum > 0, "nesterov needs momentum > 0")
        try require(weightDecay >= 0, "weight_decay must be >= 0, got \(weightDecay)")
        try require(betas.count == 2 && betas.allSatisfy { $0 >= 0 && $0 < 1 }, "betas must be two numbers in [0, 1), got \(betas)")
        try require(labelSmoothing >= 0 && labelSmoothing < 1, "label_smoothing must be in [0, 1), got \(labelSmoothing)")
        try require(accumulate >= 1, "accumulate must be at least 1, got \(accumulate)")
        try require(threads.map { $0 > 0 } ?? true, "threads must be positive, got \(threads ?? 0)")
        try require(workers >= 0, "workers must be >= 0, got \(workers)")
        try require(checkpointEvery >= 0, "checkpoint_every must be >= 0 (0: only at epoch ends), got \(checkpointEvery)")
        try require(keep >= 1, "keep must be at least 1, got \(keep)")
        try require(logEvery >= 1, "log_every must be at least 1, got \(logEvery)")
        try require(evalEvery >= 0, "eval_every must be >= 0 (0: each epoch), got \(evalEvery)")
        try require(numClasses.map { $0 > 0 } ?? true, "num_classes must be positive, got \(numClasses ?? 0)")
        try require(inChannels.map { $0 > 0 } ?? true, "in_channels must be positive, got \(inChannels ?? 0)")
        try require(imageSize.map { $0 > 0 } ?? true, "image_size must be positive, got \(imageSize ?? 0)")
        try require(collectiveTimeout > 0 && collectiveTimeout.isFinite,
                    "collective_timeout must be a positive number of seconds, got \(collectiveTimeout)")
        try require(bucketCapMB > 0, "bucket_cap_mb must be positive, got \(bucketCapMB)")
        try require(powersgdRank >= 1, "powersgd_rank must be at least 1, got \(powersgdRank)")
        try require(powersgdWarmupSteps >= 0, "powersgd_warmup_steps must be >= 0, got \(powersgdWarmupSteps)")
        try require(resume.map { !$0.isEmpty } ?? true, "resume must be auto or a checkpoint path")
        try require((mean == nil) == (std == nil), "mean and std go together: give both or neither")
        if let mean, let std {
            try require(!mean.isEmpty && mean.count == std.count, "mean and std must list as many values (one, or one per channel)")
            try require(std.allSatisfy { $0 > 0 && $0.isFinite }, "std values must be positive, got \(std)")
        }
        try require(ignoreIndex >= 0, "ignore_index must be >= 0 (a mask value), got \(ignoreIndex)")
        try require(headLRFactor > 0 && headLRFactor.isFinite, "head_lr_factor must be a positive number, got \(headLRFactor)")
        try require(mixupAlpha >= 0 && mixupAlpha.isFinite, "mixup_alpha must be >= 0 (0: off), got \(mixupAlpha)")
        try require(cutmixAlpha >= 0 && cutmixAlpha.isFinite, "cutmix_alpha must be >= 0 (0: off), got \(cutmixAlpha)")
        try require(emaDecay.map { $0 > 0 && $0 < 1 } ?? true, "ema_decay must be in (0, 1), e.g. 0.99998, got \(emaDecay ?? 0)")
        try require(emaEvery >= 1, "ema_every must be at least 1, got \(emaEvery)")
        try require(randomErase >= 0 && randomErase <= 1, "random_erase must be a probability in [0, 1], got \(randomErase)")
        try require(autoAugment == .none || data == DataSource.imageFolder.rawValue,
                    "auto_augment applies to imagefolder data (torchvision's recipe augments 8-bit crops), not \(data)")
    }

    /// What `resume` asks for: the newest checkpoint that verifies (`auto`), or a file.
    public enum ResumeTarget: Equatable, Sendable { case newest, file(String) }
    public var resumeTarget: ResumeTarget? { resume.map { $0 == "auto" ? .newest : .file($0) } }

    /// How to open the data set this config names.
    public var dataOptions: DataSource.Options {
        var options = DataSource.Options(directory: dataDir, seed: seed, imageSize: imageSize, channels: inChannels,
                                         classes: numClasses, syntheticCount: syntheticCount)
        if let mean, let std { options.normalization = Normalization(mean: mean.map(Float.init), std: std.map(Float.init)) }
        options.ignoreIndex = ignoreIndex
        options.arrayLayout = npyLayout
        options.augment = augment
        options.autoAugment = autoAugment
        return options
    }

    /// The model options with the data set's defaults filled in (classes, channels, image
    /// side), checked against it: the message names the flag that would fit.
    public func modelOptions(fitting data: Dataset) throws -> ModelOptions {
        var options = modelOptions
        let (classes, channels) = (numClasses ?? data.classCount, inChannels ?? data.sampleShape[0])
        options.numClasses = classes
        options.inChannels = channels
        options.imageSize = imageSize ?? data.sampleShape[1]
        if classes < data.classCount {
            throw Invalid("num_classes \(classes) is fewer than the \(data.classCount) classes of \(self.data) "
                          + "(--num-classes \(data.classCount) or more)")
        }
        if channels != data.sampleShape[0] {
            throw Invalid("in_channels \(channels) does not match the \(data.sampleShape[0]) channels of \(self.data) "
                          + "(--in-channels \(data.sampleShape[0]), or leave it unset)")
        }
        return options
    }

    public var modelOptions: ModelOptions {
        ModelOptions(numClasses: numClasses, inChannels: inChannels, stem: stem,
                     imageSize: imageSize, zeroInitResidual: zeroInitResidual)
    }

    /// Settings that must agree on every rank (checked at start-up with the model). Paths,
    /// threads and loader workers may differ from node to node and are left out.
    public var rankInvariantSettings: [String] {
        let local: Set<String> = ["data_dir", "threads", "workers", "checkpoint_dir", "log_dir", "log_every", "resume", "weights", "timeline"]
        return jsonObject().filter { !local.contains($0.key) }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// The resolved config as YAML-compatible JSON (for run.json and checkpoints).
    public func jsonObject() -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(self))) as? [String: Any] ?? [:]
    }
}

extension TrainingConfig {
    /// Applies a subcommand's config flags (see `CommandLineSettings`) on top of `self`.
    public func merging(arguments: [String], for command: ConfigSetting.Commands, commandName: String) throws -> TrainingConfig {
        try merging(commandLine: CommandLineSettings.parse(arguments, for: command, commandName: commandName))
    }

    /// Applies values already parsed from the command line, with the flags' names in messages.
    public func merging(commandLine values: [String: Any]) throws -> TrainingConfig {
        try merging(values: values, source: "command line", naming: { ConfigSetting.named($0)?.flag ?? $0 })
    }

    static let modelOptionKeys: [CodingKeys] = [.numClasses, .inChannels, .stem, .imageSize]

    /// A recipe's model options fit its own data set (Fashion-MNIST's 1 channel and CIFAR stem).
    /// When the command line names another data set, each of those options it does not set
    /// itself is left to the new data set's default instead of failing on the recipe's value;
    /// returns what was dropped.
    public mutating func leaveModelOptionsToData(recipe: TrainingConfig, commandLine: [String: Any]) -> [String] {
        guard let data = commandLine[CodingKeys.data.rawValue] as? String, data != recipe.data else { return [] }
        let recipeValues = recipe.jsonObject()
        var dropped: [String] = []
        for key in Self.modelOptionKeys where commandLine[key.rawValue] == nil {
            guard let value = recipeValues[key.rawValue] else { continue }
            dropped.append("\(key.rawValue) \(value)")
            switch key {
            case .numClasses: numClasses = nil
            case .inChannels: inChannels = nil
            case .stem: stem = nil
            default: imageSize = nil
            }
        }
        return dropped
    }
}

extension TrainingConfig {
    /// What `freeze` names, with `backbone` spelled out as every top-level name but the head's.
    public func freezePrefixes(headPrefix: String, topLevelNames: [String] = []) -> [String] {
        let head = String(headPrefix.split(separator: ".").first ?? "")
        return (freeze ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .flatMap { $0 == "backbone" ? topLevelNames.filter { $0 != head } : [$0] }
    }

    /// The configured optimizer over a model's trainable named parameters (norm weights and
    /// biases undecayed unless `no_decay_norm_and_bias` is off; those under `headPrefix` at
    /// `head_lr_factor` times the rate).
    public func makeOptimizer(_ named: [(String, Tensor)], headPrefix: String = "") -> Optimizer {
        func groups(_ named: [(String, Tensor)], lr: Double) -> [ParamGroup] {
            noDecayNormAndBias
                ? ParamGroup.decayingWeightsOnly(named, lr: lr, weightDecay: weightDecay)
                : [ParamGroup(parameters: named, lr: lr, weightDecay: weightDecay)].filter { !$0.parameters.isEmpty }
        }
        let isHead = { (name: String) in headLRFactor != 1 && !headPrefix.isEmpty && name.hasPrefix(headPrefix) }
        let groups = groups(named.filter { !isHead($0.0) }, lr: lr) + groups(named.filter { isHead($0.0) }, lr: lr * headLRFactor)
        switch optimizer {
        case .adamw: return AdamW(groups, betas: (betas[0], betas[1]))
        case .sgd: return SGD(groups, momentum: momentum, nesterov: nesterov)
        }
    }

    /// The configured learning-rate schedule: warm-up, then the decay.
    public func makeSchedule() -> LRSchedule {
        let decay: LRSchedule.Decay
        switch schedule {
        case .step: decay = .step(every: stepSize, gamma: gamma)
        case .multistep: decay = .multiStep(milestones: milestones, gamma: gamma)
        case .cosine: decay = .cosine(totalEpochs: Double(epochs), minFactor: minLRFactor)
        case .constant: decay = .constant
        }
        return LRSchedule(decay, warmupEpochs: warmupEpochs, warmupStartFactor: warmupStartFactor)
    }
}
