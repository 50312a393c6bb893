import Autograd
import Distributed
import Kernels
import NN
import XCTest

final class DataParallelTests: XCTestCase {
    final class Net: Module, Layer {
        let conv = Conv2d(2, 4, kernelSize: 3, padding: 1, bias: false)
        let bn = BatchNorm2d(4)
        let fc = Linear(4, 3)
        let unused = Linear(2, 2)
        override init() {
            super.init()
            registerModule("conv", conv); registerModule("bn", bn); registerModule("fc", fc); registerModule("unused", unused)
        }
        func callAsFunction(_ x: Tensor) -> Tensor { fc(globalAvgPool2d(relu(bn(conv(x)))).flattened(from: 1)) }
    }

    func testBucketsFollowReverseRegistrationOrderWithASmallFirstBucket() throws {
        let model = Net()
        let ddp = try DataParallel(model: model, communicator: SingleProcessCommunicator(),
                                   options: .init(bucketCapMiB: 120.0 / 1_048_576, firstBucketMiB: 20.0 / 1_048_576))
        // Reversed, in bytes: unused.bias 8 | unused.weight 16, fc.bias 12, fc.weight 48, bn.bias 16, bn.weight 16 | conv 288
        // (a 20-byte first bucket, then 120-byte buckets; a parameter larger than the cap gets its own).
        XCTAssertEqual(ddp.bucketSizesInBytes, [8, 108, 288])
        XCTAssertEqual(ddp.bucketSizesInBytes.reduce(0, +), model.parameterCount * 4)
    }

    func testSingleRankSynchronisationKeepsGradientsAndZeroFillsUnusedParameters() throws {
        let model = Net()
        let ddp = try DataParallel(model: model, communicator: SingleProcessCommunicator())
        let x = testInput(seed: 1)
        crossEntropy(model(x), labels: [0, 2]).backward()
        let before = model.fc.weight.grad!.toArray()
        XCTAssertEqual(ddp.finishGradientSynchronization(), [])
        XCTAssertEqual(model.fc.weight.grad!.toArray(), before)
        XCTAssertEqual(model.unused.weight.grad?.toArray(), [0, 0, 0, 0], "unused parameters take part as zeros")
        let norm = model.parameters().reduce(0.0) { total, p in total + p.grad!.toArray().reduce(0.0) { $0 + Double($1 * $1) } }
            .squareRoot()
        XCTAssertGreaterThan(norm, 0)
        XCTAssertEqual(ddp.lastGradientNorm, norm, accuracy: 1e-6 * norm, "the logged grad_norm is the applied gradient's")
    }

    func testAccumulationCommunicatesOnlyOnTheLastMicroBatch() throws {
        let model = Net()
        let ddp = try DataParallel(model: model, communicator: SingleProcessCommunicator())
        model.eval()  // fixed statistics, so two micro-batches sum to the whole batch's gradient
        let (a, b) = (testInput(seed: 2), testInput(seed: 3))
        ddp.synchronizesGradients = false
        crossEntropy(model(a), labels: [0, 1]).backward()
        ddp.synchronizesGradients = true
        crossEntropy(model(b), labels: [2, 1]).backward()
        ddp.finishGradientSynchronization()
        let accumulated = model.conv.weight.grad!.toArray()
        model.zeroGrad()
        crossEntropy(model(a), labels: [0, 1]).backward()
        crossEntropy(model(b), labels: [2, 1]).backward()
        let expected = model.conv.weight.grad!.toArray()
        XCTAssertEqual(accumulated, expected)
    }

    func testGradientsLiveInTheBucketsAcrossStepsAndEqualThePlainEngines() throws {
        let model = Net(), twin = Net()
        for (a, b) in zip(model.parameters(), twin.parameters()) { b.copyValues(from: a) }
        var ddp: DataParallel? = try DataParallel(model: model, communicator: SingleProcessCommunicator())
        let places = model.parameters().map { $0.grad!.pointer }
        for step in 0..<2 {
            // Step 1 has two micro-batches: the second adds into what the first left in the bucket,
            // inside the kernels' sums (so equal within rounding, where one micro-batch is exact).
            let batches = step == 0 ? [UInt64(10)] : [11, 21]
            for (k, seed) in batches.enumerated() {
                ddp!.synchronizesGradients = k == batches.count - 1
                crossEntropy(model(testInput(seed: seed)), labels: [0, 1]).backward()
                crossEntropy(twin(testInput(seed: seed)), labels: [0, 1]).backward()
            }
            XCTAssertEqual(ddp!.finishGradientSynchronization(), [])
            for ((name, p), q) in zip(model.namedParameters(), twin.parameters()) where !name.hasPrefix("unused") {
                if step == 0 {
                    XCTAssertEqual(p.grad!.toArray(), q.grad!.toArray(), "\(name)'s gradient, bit for bit")
                } else {
                    let (a, b) = (p.grad!.toArray(), q.grad!.toArray())
                    let worst = zip(a, b).map { abs($0 - $1) }.max()!, scale = b.map(abs).max()!
                    XCTAssertLessThanOrEqual(worst, 1e-6 * scale, "\(name)'s accumulated gradient")
                    XCTAssertGreaterThan(scale, 0)
                }
            }
            XCTAssertEqual(model.parameters().map { $0.grad!.pointer }, places, "step \(step): every gradient is still its bucket view")
            model.zeroGrad(); twin.zeroGrad()
            XCTAssertTrue(model.parameters().allSatisfy { $0.grad!.toArray().allSatisfy { $0 == 0 } }, "zeroing fills the views")
            XCTAssertTrue(twin.parameters().allSatisfy { $0.grad == nil }, "without buckets, zeroing drops the gradient")
        }
        crossEntropy(model(testInput(seed: 30)), labels: [0, 1]).backward()
        let last = model.conv.weight.grad!.toArray()
        ddp = nil
        XCTAssertFalse(model.conv.weight.keepsGradStorage)
        XCTAssertNotEqual(model.conv.weight.grad!.pointer, places[0], "the gradient is the parameter's own memory again")
        XCTAssertEqual(model.conv.weight.grad!.toArray(), last)
        model.zeroGrad()
        XCTAssertNil(model.conv.weight.grad)
    }

    func testNonFiniteGradientsAreReported() throws {
        let model = Net()
        let ddp = try DataParallel(model: model, communicator: SingleProcessCommunicator())
        let x = testInput(seed: 4)
        x.pointer[3] = .nan
        crossEntropy(model(x), labels: [0, 2]).backward()
        XCTAssertEqual(ddp.finishGradientSynchronization(), [0])
        model.zeroGrad()
        crossEntropy(model(testInput(seed: 5)), labels: [0, 2]).backward()
        XCTAssertEqual(ddp.finishGradientSynchronization(), [], "the flag does not stick to the next step")
    }

    /// SyncBatchNorm's maths: two "ranks" holding halves of a batch, whose statistics a
    /// reducer combines, give exactly the full batch's output and input gradient.
    func testSyncBatchNormEqualsFullBatchNorm() {
        let full = testTensor4([4, 3, 5, 5], seed: 6), dy = testTensor4([4, 3, 5, 5], seed: 7)
        let (w, b) = (testTensor4([3], seed: 8), testTensor4([3], seed: 9))
        let half = 2 * 3 * 25
        let x0 = Tensor(shape: [2, 3, 5, 5], data: Array(full.toArray()[..<half]))
        let x1 = Tensor(shape: [2, 3, 5, 5], data: Array(full.toArray()[half...]))
        let dy1 = Tensor(shape: [2, 3, 5, 5], data: Array(dy.toArray()[half...]))

        // The other rank's contributions, added the way an all-reduce would.
        final class OtherHalf: StatisticsReducer {
            let x: Tensor, dy: Tensor
            var mean: [Float] = []
            init(x: Tensor, dy: Tensor) { self.x = x; self.dy = dy }
            func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {
                let c = 3
                var a = [Double](repeating: 0, count: c), q = [Double](repeating: 0, count: c)
                if values.count == 2 * c + 1 {  // forward: Σx, Σx², count
                    BatchNormKernel.statistics(x: x.pointer, batch: 2, channels: c, plane: 25, sum: &a, sumSquares: &q)
                    for i in 0..<c { values[i] += a[i]; values[c + i] += q[i] }
                    values[2 * c] += 50
                    mean = (0..<c).map { Float(values[$0] / values[2 * c]) }
                } else {  // backward: Σdy, Σdy·(x − mean)
                    BatchNormKernel.backwardReduce(dy: dy.pointer, x: x.pointer, batch: 2, channels: c, plane: 25,
                                                   mean: mean, sumDy: &a, sumDyXmu: &q)
                    for i in 0..<c { values[i] += a[i]; values[c + i] += q[i] }
                }
            }
        }
        x0.requiresGrad = true
        let y0 = batchNorm2d(x0, weight: w, bias: b, runningMean: nil, runningVar: nil, training: true,
                             reducer: OtherHalf(x: x1, dy: dy1))
        (y0 * Tensor(shape: [2, 3, 5, 5], data: Array(dy.toArray()[..<half]))).sum().backward()

        full.requiresGrad = true
        let y = batchNorm2d(full, weight: w, bias: b, runningMean: nil, runningVar: nil, training: true)
        (y * dy).sum().backward()
        let expectedY = Array(y.toArray()[..<half]), expectedDx = Array(full.grad!.toArray()[..<half])
        for (a, e) in zip(y0.toArray(), expectedY) { XCTAssertEqual(a, e, accuracy: 1e-5) }
        for (a, e) in zip(x0.grad!.toArray(), expectedDx) { XCTAssertEqual(a, e, accuracy: 1e-5) }
    }

    /// Rank 0 of two. The peer has the same model and settings: gathered bytes are this rank's
    /// twice, and in per-rank arrays of Doubles (one slot a rank, the others zero) its slot
    /// mirrors ours. Its Float values (the running statistics) are ours plus one: a sum is 2v + 1.
    final class PeerPlusOne: Communicator {
        var rank: Int { 0 }
        var size: Int { 2 }
        var localRank: Int { 0 }
        var localSize: Int { 2 }
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) { for i in buffer.indices { buffer[i] = 2 * buffer[i] + 1 } }
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
            precondition(buffer.count == 2, "only per-rank arrays are expected here")
            buffer[1] = buffer[0]
        }
        func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) { for i in buffer.indices { buffer[i] += 1 } }
        func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) -> PendingCollective {
            allReduceSum(buffer)
            return Done()
        }
        func startAllReduceSumBF16(_ buffer: UnsafeMutableBufferPointer<UInt16>) -> PendingCollective { Done() }
        func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {}
        func allGather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
            receive.copyMemory(from: send)
            UnsafeMutableRawBufferPointer(rebasing: receive[send.count...]).copyMemory(from: send)
        }
        func barrier() {}
        var collectiveTimeout = 300.0
        var progressContext = ""
        var currentOperation: String?
        func abort(code: Int32) -> Never { exit(code) }
        final class Done: PendingCollective {
            let completedAt: Double? = 0
            func test() -> Bool { true }
            func wait() {}
        }
    }

    /// Running statistics become the mean over the ranks; the batch counter is left alone.
    func testBufferAveragingTakesTheMeanOverRanks() throws {
        let model = Net()
        model.bn.runningMean.pointer[0] = 0.25
        model.bn.runningVar.pointer[1] = 2
        let counter = model.namedBuffers().first { $0.name == "bn.num_batches_tracked" }!.tensor
        counter.pointer[0] = 7
        let ddp = try DataParallel(model: model, communicator: PeerPlusOne())
        ddp.synchronizeBuffers()
        XCTAssertEqual(model.bn.runningMean.pointer[0], 0.75, "(0.25 + 1.25) / 2")
        XCTAssertEqual(model.bn.runningVar.pointer[1], 2.5, "(2 + 3) / 2")
        XCTAssertEqual(counter.pointer[0], 7, "num_batches_tracked is the same on every rank and is not averaged")
    }

    func testInput(seed: UInt64) -> Tensor { testTensor4([2, 2, 4, 4], seed: seed) }

    func testTensor4(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.uniform(shape, low: -1, high: 1, using: &rng)
    }
}
