import Distributed
import Foundation
import Training

/// ResNet-18 (CIFAR stem) on 8x8 synthetic images: real training, a few dozen milliseconds a step.
func smallConfig(_ folder: String) -> TrainingConfig {
    var c = TrainingConfig()
    c.model = "resnet18"
    c.data = "synthetic"
    c.imageSize = 8
    c.inChannels = 1
    c.numClasses = 4
    c.stem = .cifar
    c.syntheticCount = 24
    c.evalLimit = 16
    c.batchSize = 4
    c.epochs = 2
    c.lr = 0.05
    c.warmupEpochs = 0.5
    c.schedule = .cosine
    c.workers = 1
    c.checkpointDir = "\(folder)/ckpt"
    c.logDir = "\(folder)/logs"
    c.logEvery = 3
    c.seed = 5
    return c
}

/// A trainer for `config` on one process (its console quiet), and what its run reported.
func trainOnce(_ config: TrainingConfig) throws -> (Trainer, TrainingSummary) {
    let trainer = try Trainer(config: config, communicator: SingleProcessCommunicator(), console: Console(rank: 1))
    return (trainer, try trainer.run())
}
