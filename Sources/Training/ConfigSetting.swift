import Data
import Distributed
import Models

/// One key of `TrainingConfig`, as a YAML file and the command line both know it: the flag is
/// the key in kebab case (`weight_decay` is `--weight-decay`). `ConfigSetting.of` switches over
/// every key, so a new key does not compile without its flag, help and group.
public struct ConfigSetting: Sendable {
    public enum Group: String, CaseIterable, Sendable {
        case model = "Model", data = "Data", optimisation = "Optimisation", schedule = "Schedule"
        case distributed = "Distributed", checkpointsAndLogs = "Checkpoints and logs"
    }

    /// What the flag takes: nothing (a switch, `--no-X` turns it off), one value, or a comma-separated list.
    public enum Value: Sendable, Equatable {
        case toggle
        case text(String)
        case integer
        case number
        case numbers
    }

    /// The subcommands a setting applies to.
    public struct Commands: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let train = Commands(rawValue: 1)
        public static let bench = Commands(rawValue: 2)
        public static let eval = Commands(rawValue: 4)
        public static let all: Commands = [.train, .bench, .eval]
    }

    public let key: String
    public let group: Group
    public let help: String
    public let value: Value
    public let commands: Commands
    /// The allowed values of an enumerated setting.
    public let choices: [String]?

    public var flag: String? { key == "model" ? nil : "--" + key.replacingOccurrences(of: "_", with: "-") }

    init(_ key: TrainingConfig.CodingKeys, _ group: Group, _ value: Value, _ commands: Commands, _ help: String,
         choices: [String]? = nil) {
        self.key = key.rawValue; self.group = group; self.value = value; self.commands = commands; self.help = help
        self.choices = choices
    }

    static func choice<T: CaseIterable & RawRepresentable>(_ key: TrainingConfig.CodingKeys, _ group: Group, _ type: T.Type,
                                                           _ commands: Commands, _ help: String) -> ConfigSetting
    where T.RawValue == String {
        let names = T.allCases.map(\.rawValue)
        return ConfigSetting(key, group, .text(names.joined(separator: "|")), commands, help, choices: names)
    }

    /// Every setting, in the order of the config's keys.
    public static var all: [ConfigSetting] { TrainingConfig.CodingKeys.allCases.map(of) }

    public static func named(_ key: String) -> ConfigSetting? { TrainingConfig.CodingKeys(stringValue: key).map(of) }

    static func of(_ key: TrainingConfig.CodingKeys) -> ConfigSetting {
        switch key {
        case .model: return .init(key, .model, .text("name"), .all, "Model (the command's argument; see `ddptrain models`).")
        case .numClasses: return .init(key, .model, .integer, .all, "Classes of the classifier (default: the data set's).")
        case .inChannels: return .init(key, .model, .integer, .all, "Input channels (default: the data set's).")
        case .stem: return .choice(key, .model, ResNet.Stem.self, .all, "ResNet stem: 7x7/2 + max pool, or 3x3/1 (default: the data set's).")
        case .imageSize: return .init(key, .model, .integer, .all, "Image side for synthetic, shapes, imagefolder and segfolder data, and vit_tiny.")
        case .zeroInitResidual: return .init(key, .model, .toggle, [.train, .bench], "Zero the last BN weight of each residual block.")
        case .data: return .init(key, .data, .text("name"), [.train, .eval], "Data set: \(DataSource.allCases.map(\.rawValue).joined(separator: ", ")).")
        case .dataDir: return .init(key, .data, .text("path"), [.train, .eval], "Folder of the data set.")
        case .workers: return .init(key, .data, .integer, .all, "Data loader threads per rank (0: load on the training thread).")
        case .dropLast: return .init(key, .data, .toggle, [.train], "Drop the last incomplete global batch of each epoch.")
        case .evalLimit: return .init(key, .data, .integer, [.train], "Evaluate on the first N held-out samples only.")
        case .mean: return .init(key, .data, .numbers, [.train, .eval], "Per-channel mean of segfolder and npy images, e.g. 0.2860 (with --std).")
        case .std: return .init(key, .data, .numbers, [.train, .eval], "Per-channel std of segfolder and npy images, e.g. 0.3530 (with --mean).")
        case .ignoreIndex: return .init(key, .data, .integer, [.train, .eval], "Mask value that labels nothing (segfolder, npy masks).")
        case .npyLayout: return .choice(key, .data, ArrayLayout.self, [.train, .eval], "Layout of 4-D npy image arrays.")
        case .augment: return .init(key, .data, .toggle, [.train], "Augment npy training images (padded random crop, flip).")
        case .freeze: return .init(key, .optimisation, .text("prefixes"), [.train, .bench], "Freeze these modules or parameters, e.g. conv1,bn1,layer1, or backbone (all but the head).")
        case .headLRFactor: return .init(key, .optimisation, .number, [.train], "The head's learning rate as a multiple of --lr.")
        case .mixupAlpha: return .init(key, .optimisation, .number, [.train], "Mixup's Beta(α, α) (torchvision's --mixup-alpha; 0: off).")
        case .cutmixAlpha: return .init(key, .optimisation, .number, [.train], "CutMix's Beta(α, α) (torchvision's --cutmix-alpha; 0: off).")
        case .emaDecay: return .init(key, .optimisation, .number, [.train], "Keep an EMA of the weights with this decay, adjusted as torchvision's --model-ema-decay (e.g. 0.99998).")
        case .emaEvery: return .init(key, .optimisation, .integer, [.train], "Update the EMA every N steps (torchvision's --model-ema-steps).")
        case .randomErase: return .init(key, .data, .number, [.train], "Erase a random box of each training image with this probability (torchvision's --random-erase).")
        case .autoAugment: return .choice(key, .data, AutoAugmentPolicy.self, [.train], "imagefolder training images through TrivialAugmentWide (torchvision's --auto-augment ta_wide).")
        case .syntheticCount: return .init(key, .data, .integer, [.train, .eval], "Samples of the synthetic data set.")
        case .badSamples: return .choice(key, .data, BadSamplePolicy.self, [.train], "A sample that does not decode: stop with a checkpoint, or log it and train on a replacement.")
        case .epochs: return .init(key, .schedule, .integer, [.train], "Epochs.")
        case .maxSteps: return .init(key, .schedule, .integer, [.train], "Stop after this many optimizer steps.")
        case .batchSize: return .init(key, .optimisation, .integer, .all, "Samples per rank per step (per micro-batch).")
        case .accumulate: return .init(key, .optimisation, .integer, [.train], "Micro-batches accumulated per optimizer step.")
        case .lr: return .init(key, .optimisation, .number, [.train, .bench], "Learning rate for a global batch of 256 (scaled with the global batch; see --lr-scaling).")
        case .lrScaling: return .choice(key, .optimisation, LRScaling.self, [.train], "Scale --lr linearly with the global batch, or not.")
        case .optimizer: return .choice(key, .optimisation, OptimizerKind.self, [.train, .bench], "Optimizer.")
        case .momentum: return .init(key, .optimisation, .number, [.train, .bench], "SGD momentum.")
        case .nesterov: return .init(key, .optimisation, .toggle, [.train, .bench], "Nesterov momentum (SGD).")
        case .weightDecay: return .init(key, .optimisation, .number, [.train, .bench], "Weight decay (decoupled for AdamW).")
        case .noDecayNormAndBias: return .init(key, .optimisation, .toggle, [.train, .bench], "No weight decay on norm weights and biases (--no-decay-norm-and-bias=false to decay them).")
        case .betas: return .init(key, .optimisation, .numbers, [.train, .bench], "AdamW's betas, e.g. 0.9,0.999.")
        case .labelSmoothing: return .init(key, .optimisation, .number, [.train], "Label smoothing of the cross-entropy loss.")
        case .nonFinite: return .choice(key, .optimisation, NonFinitePolicy.self, [.train], "A NaN or Inf loss or gradient skips the step or stops.")
        case .precision: return .choice(key, .optimisation, Precision.self, .all, "bf16-mixed: bf16 operands, float32 accumulation in conv, linear and attention products.")
        case .seed: return .init(key, .optimisation, .integer, [.train], "Seed of initialisation, data order and augmentation.")
        case .warmupEpochs: return .init(key, .schedule, .number, [.train], "Linear warmup epochs.")
        case .warmupStartFactor: return .init(key, .schedule, .number, [.train], "Warmup starts at this fraction of the rate.")
        case .schedule: return .choice(key, .schedule, ScheduleKind.self, [.train], "Decay after warmup.")
        case .milestones: return .init(key, .schedule, .numbers, [.train], "Epochs at which multistep multiplies by --gamma, e.g. 30,60,80.")
        case .stepSize: return .init(key, .schedule, .number, [.train], "Epochs between step decays.")
        case .gamma: return .init(key, .schedule, .number, [.train], "Factor of step and multistep decays.")
        case .minLRFactor: return .init(key, .schedule, .number, [.train], "Cosine decays to this fraction of the rate.")
        case .syncBN: return .init(key, .distributed, .toggle, [.train, .bench], "Synchronise BatchNorm statistics across ranks.")
        case .bucketCapMB: return .init(key, .distributed, .number, [.train, .bench], "Gradient bucket size in MiB (PyTorch's bucket_cap_mb; default \(DataParallel.Options.defaultBucketCapMiB.formatted()), PyTorch's 25).")
        case .collectiveTimeout: return .init(key, .distributed, .number, .all, "Seconds a collective may wait for the other ranks before the job ends (default \(defaultCollectiveTimeout.formatted())).")
        case .gradCompression: return .choice(key, .distributed, GradientCompression.self, [.train, .bench], "Gradients on the wire: float32, bf16 (half the bytes), or powersgd (low-rank factors; for slow links).")
        case .powersgdRank: return .init(key, .distributed, .integer, [.train, .bench], "PowerSGD's rank: factor columns per gradient matrix.")
        case .powersgdWarmupSteps: return .init(key, .distributed, .integer, [.train], "Optimizer steps all-reduced uncompressed before PowerSGD starts.")
        case .threads: return .init(key, .distributed, .integer, .all, "BLAS and kernel threads per rank (default: cores / ranks on the node).")
        case .checkpointDir: return .init(key, .checkpointsAndLogs, .text("path"), [.train], "Checkpoint folder (default: checkpoints/MODEL).")
        case .checkpointEvery: return .init(key, .checkpointsAndLogs, .integer, [.train], "Also checkpoint every N steps (0: epoch ends only).")
        case .keep: return .init(key, .checkpointsAndLogs, .integer, [.train], "Checkpoints to keep (plus the best).")
        case .resume: return .init(key, .checkpointsAndLogs, .text("auto|path"), [.train], "Resume from the newest valid checkpoint, or a file.")
        case .weights: return .init(key, .checkpointsAndLogs, .text("path"), [.train], "Initial weights with PyTorch names: a .pth file torch.save wrote (a state dict), or safetensors.")
        case .logDir: return .init(key, .checkpointsAndLogs, .text("path"), [.train], "Log folder (default: runs/MODEL).")
        case .timeline: return .init(key, .checkpointsAndLogs, .text("file.json"), [.train, .bench], "Write a Chrome/Perfetto trace of every rank's steps and all-reduces (rank 0 writes it at the end).")
        case .logEvery: return .init(key, .checkpointsAndLogs, .integer, [.train], "Print and log every N steps.")
        case .evalEvery: return .init(key, .checkpointsAndLogs, .integer, [.train], "Evaluate every N steps (0: each epoch).")
        }
    }
}
