import Autograd
import Data
import Distributed
import Foundation
import Kernels
import Models
import NN
import Optim

/// What a finished (or stopped) run reports.
public struct TrainingSummary {
    public var steps: Int
    /// Global mean loss of every step this process ran.
    public var losses: [Double]
    public var lastEvaluation: EvaluationResult?
    public var stoppedBySignal: Bool
    public var lastCheckpoint: String?
    /// Images trained on all ranks in this process's steps, and the seconds those steps took
    /// (evaluations and checkpoints excluded).
    public var images = 0
    public var stepSeconds = 0.0
    /// Samples replaced under `bad_samples: skip`, summed over the ranks.
    public var badSamples = 0
    /// Seconds from the first step to the end, everything included.
    public var wallSeconds = 0.0

    /// Adds one step's totals over every rank.
    mutating func record(_ totals: StepTotals) {
        steps += 1
        images += Int(totals.images)
        badSamples += Int(totals.badSamples)
        losses.append(totals.meanLoss)
    }

    /// The line a run ends with: how many steps, how long, how fast.
    public var closingLine: String {
        let rate = stepSeconds > 0 ? Double(images) / stepSeconds : 0
        return String(format: "%d step%@ in %@ (%.1f s in training steps): %.1f images/s over %d images%@",
                      steps, steps == 1 ? "" : "s", Console.duration(wallSeconds), stepSeconds, rate, images,
                      badSamples > 0 ? ", \(badSamples) bad samples replaced" : "")
    }
}

/// One training run on one rank: builds everything from the config, then trains with the
/// other ranks, rank 0 coordinating logs and checkpoints.
public final class Trainer {
    public let config: TrainingConfig
    public let communicator: Communicator
    public let console: Console
    let entry: ModelEntry
    public let model: LayerModule
    let trainData: Dataset
    let evalData: Dataset
    public let optimizer: Optimizer
    let schedule: LRSchedule
    let store: CheckpointStore
    var log: MetricsLog?
    let ddp: DataParallel
    let sampler: DistributedSampler
    public private(set) var progress: TrainingProgress
    /// The global step at which BN running statistics were last made equal on every rank.
    var buffersSynchronizedAtStep = -1
    /// The global step of the newest checkpoint this run wrote (or resumed from, at an epoch
    /// end): a step already saved is not saved again.
    var lastSaveStep = -1
    let timeline: Timeline?
    /// The weights' moving average (`--ema-decay`), and the model it is evaluated in.
    let ema: ModelEMA?
    let emaModel: LayerModule?
    let globalBatch: Int
    let baseLR: Double

    public static let version = "0.1.0"
    /// Stored in checkpoints for `export` and `predict`.
    let inference: InferenceSpec

    /// Start-up in four phases, each agreed by every rank before the next (`agree`): (1) every
    /// rank alone builds config, data, model and optimizer; (2) rank 0 prepares the checkpoint
    /// folder and finds the checkpoint to resume from; (3) every rank restores it; (4) together,
    /// the data-parallel wrapper checks that every rank has the same model and settings and takes
    /// rank 0's state, and rank 0 opens the logs.
    public init(config input: TrainingConfig, communicator: Communicator, console: Console? = nil) throws {
        let console = console ?? Console(rank: communicator.rank)
        (self.console, self.communicator) = (console, communicator)
        RunSettings.apply(input, to: communicator)
        let world = communicator.size

        let parts = try agree(communicator, "start-up") { try Self.build(input, console: console) }
        (entry, model, trainData, evalData, optimizer, inference, emaModel) =
            (parts.entry, parts.model, parts.train, parts.eval, parts.optimizer, parts.inference, parts.emaModel)

        let checkpointDir = input.checkpointDir ?? "checkpoints/\(input.model)"
        store = CheckpointStore(directory: checkpointDir, keep: input.keep)
        let resumePath = try Self.findResumePoint(input, store: store, communicator: communicator, console: console)

        let resumed = try Self.restore(resumePath, into: parts, config: input, communicator: communicator)
        var config = input, progress = resumed?.progress ?? TrainingProgress()
        if resumed == nil { progress.seed = config.seed }
        if let resumed {
            config.batchSize = try Self.batchPerRank(resuming: resumed.progress, on: world, config: config, source: resumePath,
                                                     communicator: communicator, console: console)
        }
        self.config = config
        globalBatch = config.batchSize * world * config.accumulate
        progress.worldSize = world
        progress.globalBatch = globalBatch
        self.progress = progress
        baseLR = config.lr * (config.lrScaling == .linear ? Double(globalBatch) / 256 : 1)
        // The groups were made at the configured rate (the head's at head_lr_factor times it); scale them all.
        for i in optimizer.paramGroups.indices { optimizer.paramGroups[i].initialLR *= baseLR / config.lr }
        schedule = config.makeSchedule()
        sampler = DistributedSampler(datasetSize: trainData.count, worldSize: world, rank: communicator.rank,
                                     batchSize: config.batchSize, seed: config.seed, dropLast: config.dropLast)

        ddp = try Self.makeDataParallel(model, config: config, progress: progress, resumed: resumed,
                                        communicator: communicator, console: console)
        timeline = config.timeline.map { Timeline(path: $0, communicator: communicator) }
        ema = try Self.makeEMA(config: config, model: model, world: world, resumed: resumed, source: resumePath, console: console)
        if communicator.rank == 0 {
            log = try MetricsLog(directory: config.logDir ?? "runs/\(config.model)", run: [
                "config": config.jsonObject(), "world_size": world, "version": Self.version, "blas_core": BLAS.coreName,
                "blas_threads": BLAS.threads, "global_batch": globalBatch,
                "precision": config.precision.summary, "parameters": model.parameterCount,
                "resumed_from": resumePath.isEmpty ? NSNull() : resumePath as Any,
            ])
        }
        console.info(startupSummary(checkpointDir: checkpointDir, resumedFrom: resumePath))
    }

    /// Phase 2: rank 0 prepares the checkpoint folder and picks the checkpoint `resume` names
    /// (the newest that verifies, for `--resume auto`); every rank receives its path ("" for none).
    static func findResumePoint(_ config: TrainingConfig, store: CheckpointStore, communicator: Communicator,
                                console: Console) throws -> String {
        let path: String? = try agree(communicator, "checkpoint folder") {
            guard communicator.rank == 0 else { return nil }
            try store.prepare()
            guard let target = config.resumeTarget else { return nil }
            if case .file(let path) = target { return path }
            let found = store.latestValid { path, error in console.info("skipping checkpoint \(path): \(error)") }
            if found == nil { console.info("--resume auto: no checkpoint in \(store.directory); starting fresh") }
            return found?.path
        }
        return String(decoding: communicator.allGather(Array((path ?? "").utf8))[0], as: UTF8.self)
    }

    /// Phase 3: every rank loads the checkpoint at `path` (none when empty) into the model and optimizer.
    static func restore(_ path: String, into parts: Parts, config: TrainingConfig, communicator: Communicator) throws -> Checkpoint? {
        try agree(communicator, "resume") {
            guard !path.isEmpty else { return nil }
            let checkpoint = try Checkpoint.load(path)
            try checkpoint.restore(into: parts.model, optimizer: parts.optimizer, modelName: config.model, source: path)
            return checkpoint
        }
    }

    /// Phase 4: the data-parallel wrapper (every rank checks that all have the same model and
    /// settings, then takes rank 0's parameters), resumed where the checkpoint left it.
    static func makeDataParallel(_ model: LayerModule, config: TrainingConfig, progress: TrainingProgress, resumed: Checkpoint?,
                                 communicator: Communicator, console: Console) throws -> DataParallel {
        let ddp = try DataParallel(model: model, communicator: communicator, settings: config.rankInvariantSettings,
                                   options: config.dataParallelOptions)
        ddp.synchronizedSteps = progress.globalStep
        if let resumed, let note = try ddp.restoreCompressionState(resumed.communicationState) { console.info(note) }
        return ddp
    }

    /// What phase 1 of start-up builds from the config, on each rank alone.
    struct Parts {
        let entry: ModelEntry
        let model: LayerModule
        let train: Dataset
        let eval: Dataset
        let optimizer: Optimizer
        let inference: InferenceSpec
        let emaModel: LayerModule?
    }

    /// Phase 1: checks the config and the environment, opens the data (training augmentations
    /// included), builds the model with its initial weights and freezing, and its optimizer.
    static func build(_ config: TrainingConfig, console: Console) throws -> Parts {
        try config.validate()
        try EnvironmentSetting.validateAll()
        let entry = try ModelRegistry.entry(config.model)
        let source = try DataSource.named(config.data)
        let opened = try source.open(train: true, options: config.dataOptions)
        if config.randomErase > 0 && opened.isSegmentation {
            throw TrainingConfig.Invalid("random_erase erases classification images; \(config.data) is segmentation")
        }
        let train: Dataset = config.randomErase > 0 ? RandomErasing(opened, probability: config.randomErase, seed: config.seed) : opened
        var eval = try source.open(train: false, options: config.dataOptions)
        if let limit = config.evalLimit { eval = Subset(eval, first: limit) }
        let modelOptions = try config.modelOptions(fitting: train)
        if entry.isSegmentation && (config.mixupAlpha > 0 || config.cutmixAlpha > 0) {
            throw TrainingConfig.Invalid("mixup_alpha and cutmix_alpha mix classification targets; \(entry.name) segments")
        }
        Initializers.manualSeed(config.seed)
        let model = entry.build(modelOptions)
        if let weights = config.weights { try Self.loadWeights(weights, into: model, entry: entry, console: console) }
        if config.freeze != nil {
            try model.freeze(prefixes: config.freezePrefixes(headPrefix: entry.headPrefix, topLevelNames: model.children.map(\.name)))
            if model.trainableParameters().isEmpty { throw TrainingConfig.Invalid("--freeze \(config.freeze ?? ""): nothing is left to train") }
        }
        let optimizer = config.makeOptimizer(model.trainableParameters(), headPrefix: entry.headPrefix)
        let inference = InferenceSpec(config: config, options: modelOptions, dataset: opened, source: source, entry: entry)
        let emaModel = config.emaDecay == nil ? nil : entry.build(modelOptions)
        return Parts(entry: entry, model: model, train: train, eval: eval, optimizer: optimizer, inference: inference, emaModel: emaModel)
    }

    /// The EMA `ema_decay` asks for, resumed from the checkpoint when it has one.
    static func makeEMA(config: TrainingConfig, model: Module, world: Int, resumed: Checkpoint?, source: String,
                        console: Console) throws -> ModelEMA? {
        guard let decay = config.emaDecay else { return nil }
        let ema = ModelEMA(model: model, decay: ModelEMA.adjustedDecay(decay, every: config.emaEvery, worldSize: world,
                                                                       batchPerRank: config.batchSize, epochs: config.epochs),
                           every: config.emaEvery)
        if let resumed {
            if resumed.emaState.isEmpty { console.info("\(source) holds no EMA; the EMA starts from the resumed weights") }
            else { try ema.restore(resumed.emaState, source: source) }
        }
        return ema
    }

    /// The batch per rank that keeps a resumed run's global batch on `world` ranks (the configured
    /// one when the world size is unchanged); throws on every rank when it cannot be split.
    static func batchPerRank(resuming saved: TrainingProgress, on world: Int, config: TrainingConfig, source: String,
                             communicator: Communicator, console: Console) throws -> Int {
        guard saved.worldSize != world else { return config.batchSize }
        let perRank = saved.globalBatch / (world * config.accumulate)
        guard perRank * world * config.accumulate == saved.globalBatch, perRank > 0 else {
            throw AgreedFailure(onEveryRank: TrainingError(
                "\(source): its global batch \(saved.globalBatch) cannot be split over "
                + "\(world) ranks × accumulate \(config.accumulate)"), rank: communicator.rank)
        }
        console.info("resuming on \(world) ranks (saved on \(saved.worldSize)): batch \(perRank) per rank keeps "
                     + "the global batch \(saved.globalBatch); the run is not bitwise identical to one on the original world size")
        return perRank
    }

    /// The lines a run starts with: what trains on what, where, how, and where it writes.
    func startupSummary(checkpointDir: String, resumedFrom path: String) -> String {
        """
        ddptrain \(Self.version): \(config.model) (\(model.parameterCount) parameters\(trainableSummary)) on \(config.data) \
        \(trainData.sampleShape.map(String.init).joined(separator: "x")), \(trainData.count) train / \(evalData.count) eval samples
          world size \(communicator.size), \(BLAS.threads) BLAS thread\(BLAS.threads == 1 ? "" : "s") per rank, OpenBLAS core \(BLAS.coreName)\
        \(communicator.size > 1 ? ", all-reduce: \(communicator.allReduceRoute)" : "")
          precision \(config.precision.summary)\(config.gradCompression == .none ? "" : ", gradients on the wire: \(config.gradCompression.rawValue)")
          global batch \(globalBatch) (\(config.batchSize) per rank\(config.accumulate > 1 ? " × \(config.accumulate) accumulated" : "")), \
        lr \(String(format: "%.4g", baseLR)) \(config.schedule.rawValue)\(config.warmupEpochs > 0 ? " after \(config.warmupEpochs) warmup epochs" : ""), \
        \(config.optimizer.rawValue)\(config.syncBN ? ", SyncBatchNorm" : "")
          checkpoints in \(checkpointDir), logs in \(config.logDir ?? "runs/\(config.model)")\
        \(path.isEmpty ? "" : "\n  resumed from \(path) at epoch \(progress.epoch + 1), step \(progress.globalStep)")\
        \(trainData.notes.map { "\n  " + $0 }.joined())
        """
    }

    /// ", N train; frozen: …" when parameters are frozen, and the head's rate when it differs.
    var trainableSummary: String {
        let trainable = model.trainableParameters().reduce(0) { $0 + $1.tensor.count }
        let frozen = trainable < model.parameterCount ? ", \(trainable) train; frozen: \(config.freeze ?? "")" : ""
        return frozen + (config.headLRFactor == 1 ? "" : String(format: ", the head at %g× the rate", config.headLRFactor))
    }

    /// The model entries of a weights file (safetensors, PyTorch's .pth, or a ddptrain
    /// checkpoint, whose optimizer state is left out).
    public static func readWeights(_ path: String) throws -> [(name: String, tensor: Tensor)] {
        try WeightsFile.read(path).filter { Checkpoint.isModelEntry($0.name) }
    }

    /// `--weights`: strict, except the classifier head when its shape differs (fine-tuning).
    static func loadWeights(_ path: String, into model: Module, entry: ModelEntry, console: Console) throws {
        let named = try readWeights(path)
        let own = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor.shape) })
        let headDiffers = named.contains { $0.0.hasPrefix(entry.headPrefix) && own[$0.0] != nil && own[$0.0] != $0.1.shape }
        let skipped = try model.loadStateDict(named, skipping: headDiffers ? entry.headPrefix : nil, source: path)
        if !skipped.isEmpty { console.info("loaded \(path); kept the new classifier head (\(skipped.joined(separator: ", ")))") }
    }

    public var stepsPerEpoch: Int { (sampler.batchesPerEpoch + config.accumulate - 1) / config.accumulate }

    /// Trains until `epochs` or `max_steps`, or until a stop signal; returns what happened.
    public func run() throws -> TrainingSummary {
        try ComputePrecision.with(config.precision.compute) { try train() }
    }

    func train() throws -> TrainingSummary {
        var summary = TrainingSummary(steps: 0, losses: [], lastEvaluation: nil, stoppedBySignal: false, lastCheckpoint: nil)
        let console = self.console
        let badSampleLog = BadSampleLog { console.warning($0) }
        let loader = DataLoader(dataset: trainData, workers: config.workers, prefetch: 4, badSamples: config.badSamples,
                                badSampleLog: badSampleLog)
        let step = TrainingStep(model: model, ddp: ddp, optimizer: optimizer, labelSmoothing: Float(config.labelSmoothing))
        step.timeline = timeline
        let mixing = BatchMixing(mixupAlpha: config.mixupAlpha, cutmixAlpha: config.cutmixAlpha)
        // Since the last log line: the steps' totals, seconds spent in training steps, steps.
        var window = (totals: StepTotals(), seconds: 0.0, steps: 0)
        var lastEvalStep = -1, replacedSoFar = 0
        lastSaveStep = progress.samplesInEpoch == 0 && progress.globalStep > 0 ? progress.globalStep : -1
        let runStart = System.now(), firstStep = progress.globalStep
        model.train()

        training: while progress.epoch < config.epochs {
            let plan = sampler.batches(epoch: progress.epoch, startSample: progress.samplesInEpoch)
            let stream = loader.stream(plan, epoch: progress.epoch)
            var micro = 0
            while micro < plan.count {
                let stepStart = System.now()
                communicator.progressContext = "step \(progress.globalStep + 1)"
                let epochPosition = Double(progress.epoch) + Double(progress.samplesInEpoch) / Double(sampler.globalSamplesPerEpoch)
                progress.lrFactor = schedule.factor(atEpoch: epochPosition)
                optimizer.setLRFactor(progress.lrFactor)
                let batches = try fetchAgreed(stream, count: min(config.accumulate, plan.count - micro))
                micro += batches.count
                let mixes = mixing.isEnabled
                    ? batches.enumerated().map { mixing.apply(to: $1, seed: config.seed, step: progress.globalStep, micro: $0) } : []
                let (local, badRanks) = step.run(batches, mixes: mixes)
                try applyNonFinitePolicy(badRanks)
                let totals = allRanksTotals(local, badSampleLog: badSampleLog, replacedSoFar: &replacedSoFar)
                ema?.stepEnded(model, stepInEpoch: progress.stepInEpoch, epoch: progress.epoch, warmupEpochs: config.warmupEpochs)
                progress.globalStep += 1
                progress.stepInEpoch += 1
                progress.samplesInEpoch += Int(totals.images)
                summary.record(totals)
                let now = System.now()
                window.totals += totals
                window.steps += 1
                window.seconds += now - stepStart
                summary.stepSeconds += now - stepStart
                // The first step of a run is logged too: under mpirun or Slurm the output is a pipe with no
                // live bar, and a user should see within seconds that training runs.
                if progress.globalStep % config.logEvery == 0 || micro >= plan.count || progress.globalStep == firstStep + 1 {
                    logProgress(window.totals, steps: window.steps, seconds: window.seconds, epochPosition: epochPosition,
                                remaining: Double(totalSteps - progress.globalStep) * (now - runStart) / Double(progress.globalStep - firstStep),
                                badSamples: summary.badSamples)
                    window = (StepTotals(), 0, 0)
                } else {
                    let rate = Double(window.steps * globalBatch) / max(window.seconds, 1e-9)
                    console.progress(step: progress.stepInEpoch, of: stepsPerEpoch,
                                     text: String(format: "epoch %d step %d/%d loss %.4f %.1f img/s", progress.epoch + 1,
                                                  progress.stepInEpoch, stepsPerEpoch, totals.meanLoss, rate))
                }
                let reachedMax = config.maxSteps.map { progress.globalStep >= $0 } ?? false
                if micro >= plan.count {
                    // Epoch end: the next checkpoint resumes at the start of the next epoch.
                    progress.epoch += 1
                    progress.stepInEpoch = 0
                    progress.samplesInEpoch = 0
                }
                if totals.stopRequests > 0 {
                    try stopOnRequest(requeue: totals.requeueRequests > 0, summary: &summary)
                    summary.wallSeconds = System.now() - runStart
                    return summary
                }
                try evaluateAndSaveWhenDue(reachedMax: reachedMax, lastEvalStep: &lastEvalStep, summary: &summary)
                if reachedMax { break training }
            }
        }
        summary.wallSeconds = System.now() - runStart
        try timeline?.write(communicator: communicator)
        return summary
    }

    /// This step's totals over every rank, with each rank's stop and requeue requests and the
    /// samples its loader replaced since the last step.
    func allRanksTotals(_ local: StepTotals, badSampleLog: BadSampleLog, replacedSoFar: inout Int) -> StepTotals {
        var mine = local
        mine.stopRequests = StopSignal.isRequested ? 1 : 0
        mine.requeueRequests = StopSignal.isRequeueRequested ? 1 : 0
        mine.badSamples = Double(badSampleLog.replacements - replacedSoFar)
        replacedSoFar = badSampleLog.replacements
        return mine.allReduced(communicator)
    }

    /// A stop signal reached some rank: every rank saves the checkpoint of this step, and a
    /// requeue signal requeues the Slurm job.
    func stopOnRequest(requeue: Bool, summary: inout TrainingSummary) throws {
        let path = try saveCheckpoint(isBest: false)
        summary.lastCheckpoint = path
        console.info("stop requested: saved \(path) at step \(progress.globalStep); exiting")
        if requeue { requeueUnderSlurm() }
        summary.stoppedBySignal = true
        try timeline?.write(communicator: communicator)
    }

    /// A step some rank's loss or gradient was not finite on (`badRanks`, every rank's same
    /// answer) was skipped: say so, or stop every rank under `non_finite: stop`.
    func applyNonFinitePolicy(_ badRanks: [Int]) throws {
        guard !badRanks.isEmpty else { return }
        let which = "rank\(badRanks.count > 1 ? "s" : "") \(badRanks.map(String.init).joined(separator: ", "))"
        guard config.nonFinite == .skip else {
            throw AgreedFailure(onEveryRank: TrainingError("step \(progress.globalStep + 1): non-finite loss or gradient on "
                                + "\(which); stopping (set non_finite: skip to skip such steps)"), rank: communicator.rank)
        }
        console.info("step \(progress.globalStep + 1): non-finite loss or gradient on \(which); step skipped")
    }

    /// After a step: evaluates when `eval_every` (or the epoch's end, the last step) says so, then
    /// checkpoints when `checkpoint_every` (or the epoch's end, the last step) says so and this
    /// step is not saved yet; the best evaluation so far marks its checkpoint as the best.
    func evaluateAndSaveWhenDue(reachedMax: Bool, lastEvalStep: inout Int, summary: inout TrainingSummary) throws {
        let epochEnded = progress.stepInEpoch == 0
        let evalDue = config.evalEvery > 0 ? progress.globalStep % config.evalEvery == 0 : epochEnded
        var isBest = false
        if evalDue || (reachedMax && lastEvalStep != progress.globalStep) || (epochEnded && progress.epoch >= config.epochs) {
            let result = try timeline?.measure("evaluation", "evaluation") { try evaluate() } ?? evaluate()
            summary.lastEvaluation = result
            lastEvalStep = progress.globalStep
            if result.headline > (progress.bestAccuracy ?? -1) { progress.bestAccuracy = result.headline; isBest = true }
        }
        let saveDue = (config.checkpointEvery > 0 && progress.globalStep % config.checkpointEvery == 0) || epochEnded || reachedMax
        if saveDue && lastSaveStep != progress.globalStep {
            let start = System.now()
            summary.lastCheckpoint = try saveCheckpoint(isBest: isBest)
            timeline?.record("checkpoint", "checkpoint", start: start, end: System.now())
        }
    }

    /// After the checkpoint that a requeue signal (SIGUSR1) asked for: rank 0 requeues the
    /// Slurm job, whose next run resumes from it with `--resume auto`.
    func requeueUnderSlurm() {
        guard communicator.rank == 0 else { return }
        guard let job = SlurmRequeue.jobID() else {
            console.info("SIGUSR1 outside a Slurm job: nothing to requeue; continue with --resume auto")
            return
        }
        if let problem = SlurmRequeue.requeue(job: job) {
            console.warning("\(problem); the checkpoint stands: resubmit with --resume auto")
        } else {
            console.info("requeued Slurm job \(job); its next run resumes from this checkpoint")
        }
    }

    /// The log line and metrics of the steps since the last one.
    func logProgress(_ totals: StepTotals, steps: Int, seconds: Double, epochPosition: Double, remaining: Double, badSamples: Int) {
        let rate = Double(steps * globalBatch) / max(seconds, 1e-9)
        let lr = baseLR * progress.lrFactor
        console.info(String(format: "epoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  lr %.4g  %.1f img/s  ETA %@%@",
                            progress.epoch + 1, config.epochs, progress.stepInEpoch, stepsPerEpoch, totals.meanLoss,
                            100 * totals.accuracy, lr, rate, Console.duration(remaining),
                            badSamples > 0 ? "  (\(badSamples) bad samples replaced so far)" : ""))
        log?.logTrain(step: progress.globalStep, epoch: epochPosition, loss: totals.meanLoss, accuracy: totals.accuracy,
                      lr: lr, imagesPerSecond: rate, gradNorm: ddp.lastGradientNorm, badSamples: badSamples)
    }

    /// This step's micro-batches. Every rank learns whether any rank's data failed to load
    /// before any of them starts the step's collectives; then all save a checkpoint of the
    /// last completed step and stop together, so the error loses no work and hangs nobody.
    func fetchAgreed(_ stream: BatchStream, count: Int) throws -> [Batch] {
        var batches: [Batch] = []
        var failure: Error?
        let start = System.now()
        do {
            while batches.count < count, let batch = try stream.next() { batches.append(batch) }
        } catch { failure = error }
        timeline?.record("data", "data", start: start, end: System.now())
        var failed = [Double](repeating: 0, count: communicator.size)
        if failure != nil { failed[communicator.rank] = 1 }
        communicator.during("agreeing that every rank's data loaded") { communicator.allReduceSum(&failed) }
        let ranks = failed.indices.filter { failed[$0] > 0 }
        guard !ranks.isEmpty else { return batches }
        throw try stopForDataError(failure, ranks: ranks)
    }

    /// Saves the last completed step (unless it is saved already) and returns the error every
    /// rank exits with: the failing ranks name the sample, rank 0 names the checkpoint.
    func stopForDataError(_ failure: Error?, ranks: [Int]) throws -> Error {
        let saved = lastSaveStep == progress.globalStep || progress.globalStep == 0 ? nil : try saveCheckpoint(isBest: false)
        let kept = saved.map { "saved \($0) at step \(progress.globalStep)" }
            ?? (progress.globalStep > 0 ? "the checkpoint of step \(progress.globalStep) is kept" : "no step had completed")
        let advice = "fix or remove the file and continue with --resume auto, or continue with --resume auto --bad-samples skip"
        if let failure {
            return AgreedFailure(underlying: TrainingError("\(failure)\n  \(kept); \(advice)"))
        }
        let where_ = ranks.isEmpty ? "another rank" : "rank\(ranks.count > 1 ? "s" : "") \(ranks.map(String.init).joined(separator: ", "))"
        return AgreedFailure(underlying: TrainingError("a sample did not load on \(where_) (see its message); \(kept); stopping"),
                             reportedElsewhere: communicator.rank != 0)
    }

    var totalSteps: Int { min(config.maxSteps ?? Int.max, config.epochs * stepsPerEpoch) }

    /// Evaluates on the held-out split (running statistics made equal on every rank first).
    public func evaluate() throws -> EvaluationResult {
        try ComputePrecision.with(config.precision.compute) { try evaluateInPrecision() }
    }

    func evaluateInPrecision() throws -> EvaluationResult {
        synchronizeBuffersOnce()
        let console = self.console
        let result: EvaluationResult
        do {
            result = try Evaluation.run(model: model, dataset: evalData, communicator: communicator, batchSize: config.batchSize,
                                        workers: config.workers, badSamples: config.badSamples,
                                        badSampleLog: BadSampleLog { console.warning($0) })
        } catch let error as AgreedFailure {
            throw try stopForDataError(error.underlying, ranks: [])
        } catch is EvaluationDataFailure {
            throw try stopForDataError(nil, ranks: [])
        }
        model.train()
        let top5 = result.top5Accuracy.map { String(format: "  acc@5 %.2f%%", 100 * $0) }
            ?? result.meanIoU.map { String(format: "  mean IoU %.2f%%", 100 * $0) } ?? ""
        console.info(String(format: "eval after step %d: loss %.4f  accuracy %.2f%%%@  (%d samples)", progress.globalStep,
                            result.loss, 100 * result.accuracy, top5, result.samples))
        log?.logEval(step: progress.globalStep, epoch: Double(progress.epoch), loss: result.loss, accuracy: result.accuracy,
                     top5Accuracy: result.top5Accuracy, meanIoU: result.meanIoU, samples: result.samples)
        if let ema, let emaModel { try evaluateEMA(ema, in: emaModel) }
        return result
    }

    /// The EMA's weights evaluated on the same samples (torchvision's "Test: EMA").
    func evaluateEMA(_ ema: ModelEMA, in emaModel: LayerModule) throws {
        try ema.copy(into: emaModel)
        let result = try Evaluation.run(model: emaModel, dataset: evalData, communicator: communicator, batchSize: config.batchSize,
                                        workers: config.workers, badSamples: config.badSamples, badSampleLog: BadSampleLog())
        let headline = result.meanIoU.map { String(format: "  mean IoU %.2f%%", 100 * $0) }
            ?? result.top5Accuracy.map { String(format: "  acc@5 %.2f%%", 100 * $0) } ?? ""
        console.info(String(format: "  ema: loss %.4f  accuracy %.2f%%%@", result.loss, 100 * result.accuracy, headline))
        log?.logEMAEval(step: progress.globalStep, loss: result.loss, accuracy: result.accuracy, top5Accuracy: result.top5Accuracy,
                        meanIoU: result.meanIoU)
    }

    /// Averages BN running statistics over the ranks (SyncBatchNorm keeps them equal already),
    /// at most once per step: an epoch end both evaluates and saves.
    func synchronizeBuffersOnce() {
        guard !config.syncBN, buffersSynchronizedAtStep != progress.globalStep else { return }
        ddp.synchronizeBuffers()
        buffersSynchronizedAtStep = progress.globalStep
    }

    /// Rank 0 writes; every rank learns whether it worked before going on.
    func saveCheckpoint(isBest: Bool) throws -> String {
        synchronizeBuffersOnce()
        let compression = ddp.compressionState()
        let path = "\(store.directory)/\(CheckpointStore.fileName(step: progress.globalStep))"
        try agree(communicator, "saving the checkpoint") {
            guard communicator.rank == 0 else { return }
            let bytes = try Checkpoint.encode(model: config.model, module: model, optimizer: optimizer, progress: progress,
                                              config: config.jsonObject(), inference: inference, communicationState: compression,
                                              emaState: ema?.checkpointState ?? [:])
            try store.save(bytes, step: progress.globalStep, isBest: isBest)
        }
        lastSaveStep = progress.globalStep
        return path
    }
}
