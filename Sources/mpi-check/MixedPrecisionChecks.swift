import Autograd
import Data
import Distributed
import Kernels
import Models
import NN
import Optim

/// bf16-mixed under real ranks: with activations blocked (bf16 where the CPU has bf16
/// instructions, float32 otherwise: the same code), every rank's parameters stay bit-identical
/// after every data-parallel step, as in float32.
func checkMixedPrecision(_ comm: MPICommunicator, _ check: (Bool, String) -> Void) throws {
    let tag = "[\(comm.size) ranks]"
    let format: TensorFormat = BF16GEMM.backend == .oneDNN ? .blocked(.bf16) : .blocked(.f32)
    let data = try FashionMNIST.load(train: true, augment: false, seed: 0)
    Initializers.manualSeed(5)
    let model = try ModelRegistry.entry("resnet18").build(ModelOptions(numClasses: 10, inChannels: 1, stem: .cifar))
    let ddp = try DataParallel(model: model, communicator: comm, settings: ["check=bf16"])
    let sgd = SGD(ParamGroup.decayingWeightsOnly(model.namedParameters(), lr: 0.05, weightDecay: 1e-4), momentum: 0.9)
    let plan = DistributedSampler(datasetSize: data.count, worldSize: comm.size, rank: comm.rank, batchSize: 8, seed: 4)
        .batches(epoch: 0)
    let loader = DataLoader(dataset: data, workers: 0)
    var identical = true, finite = true
    try ComputePrecision.with(.bf16) {
        try ActivationFormat.with(format) {
            for step in 0..<3 {
                let batch = try loader.makeBatch(plan[step], epoch: 0)
                let loss = crossEntropy(model(batch.images), labels: batch.labels)
                loss.backward()
                // Every rank synchronises every step, whatever an earlier step gave.
                let synchronised = ddp.finishGradientSynchronization().isEmpty
                finite = finite && loss.item().isFinite && synchronised
                sgd.step(); sgd.zeroGrad()
                let hashes = comm.allGather(withUnsafeBytes(of: parameterHash(model)) { Array($0) })
                if Set(hashes).count != 1 { identical = false }
            }
        }
    }
    check(finite, "\(tag) bf16-mixed (activations \(format)): losses and gradients are finite")
    check(identical, "\(tag) bf16-mixed (activations \(format)): parameters are bitwise identical on every rank after every step")
}
