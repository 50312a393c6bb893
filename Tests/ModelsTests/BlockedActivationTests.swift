import Autograd
import Kernels
import Models
import NN
import TestSupport
import XCTest

/// Activations held blocked (oneDNN's nChw16c), as bf16-mixed keeps them on CPUs with bf16
/// instructions: the same code runs in float32 on every CPU, so a whole residual network's step
/// (convolutions, batch norm with and without ReLU, residual adds, the fallbacks to plain float32
/// for SE, pooling and the head) must give what the plain float32 path gives, to float32 rounding.
/// Across a whole network that rounding may flip a ReLU whose input is within it of zero (and
/// with it that element's gradient), so networks are compared by each gradient's relative L2
/// error, single operations element by element.
final class BlockedActivationTests: XCTestCase {
    struct Step { var loss: Float; var logits: [Float]; var grads: [(String, Tensor)] }

    func step(_ model: ResNet, _ x: Tensor, _ labels: [Int32], training: Bool) -> Step {
        training ? model.train() : model.eval()
        for p in model.parameters() { p.grad = nil }
        let logits = model(x)
        let loss = crossEntropy(logits, labels: labels)
        loss.backward()
        return Step(loss: loss.item(), logits: logits.toArray(),
                    grads: model.namedParameters().compactMap { name, p in p.grad.map { (name, Tensor(copying: $0)) } })
    }

    func compare(_ options: ResNet.Options, depth: Int, size: Int, batch: Int = 4, training: Bool = true,
                 gradientTolerance: Double = 0.02, file: StaticString = #filePath, line: UInt = #line) {
        var rng = RandomGenerator(seed: 5)
        let x = Tensor.randn([batch, options.inChannels, size, size], using: &rng)
        let labels = (0..<batch).map { Int32(($0 * 3 + 1) % 4) }
        let plainModel = ResNet(depth: depth, options: options), blockedModel = ResNet(depth: depth, options: options)
        for (a, b) in zip(plainModel.stateDict(), blockedModel.stateDict()) { b.tensor.copyValues(from: a.tensor) }
        let plain = step(plainModel, x, labels, training: training)
        let blocked = ActivationFormat.with(.blocked(.f32)) { step(blockedModel, x, labels, training: training) }
        XCTAssertEqual(blocked.loss, plain.loss, accuracy: 1e-4 * max(abs(plain.loss), 1), "loss", file: file, line: line)
        XCTAssertLessThanOrEqual(worstRatio(blocked.logits, plain.logits, rtol: 1e-3), 1, "logits", file: file, line: line)
        XCTAssertEqual(blocked.grads.count, plain.grads.count, "gradients", file: file, line: line)
        XCTAssertGreaterThan(plain.grads.count, 10, file: file, line: line)
        for ((name, got), (_, want)) in zip(blocked.grads, plain.grads) {
            XCTAssertLessThan(relativeError(got, want), gradientTolerance, "grad \(name): relative L2 error", file: file, line: line)
        }
        // Running statistics moved alike (the blocked batch norm's statistics).
        for (a, b) in zip(plainModel.stateDict(), blockedModel.stateDict()) where a.name.hasSuffix("running_var") {
            assertClose(b.tensor, a.tensor, rtol: 1e-4, a.name, file: file, line: line)
        }
    }

    func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
        let (a, b) = (a.toArray().map(Double.init), b.toArray().map(Double.init))
        let difference = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        return (difference / max(b.map { $0 * $0 }.reduce(0, +), 1e-30)).squareRoot()
    }

    func testResNet18TrainingStepMatchesPlainFloat32() {
        compare(.init(numClasses: 4, inChannels: 3, stem: .cifar), depth: 18, size: 12)
    }

    /// ResNet-50's 2x2 last stage normalises 48 values per channel here: ReLU flips from
    /// rounding move its gradients by 2-3% (less with larger batches; a wrong kernel moves them by
    /// far more).
    func testResNet50WithImageNetStemMatchesPlainFloat32() {
        compare(.init(numClasses: 4, inChannels: 3, stem: .imagenet), depth: 50, size: 64, batch: 12, gradientTolerance: 0.05)
    }

    func testSEResNetAndEvalModeMatchPlainFloat32() {
        compare(.init(numClasses: 4, inChannels: 1, stem: .cifar, squeezeExcitation: true), depth: 18, size: 8)
        compare(.init(numClasses: 4, inChannels: 3, stem: .cifar), depth: 18, size: 8, training: false)
    }

    /// The blocked path is taken: a convolution's output is blocked, batch norm and the
    /// residual add keep it so, and a gradient comes back to a plain input as plain values.
    func testBlockedFormatFlowsThroughTheResidualOperations() {
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.randn([2, 16, 5, 5], using: &rng)
        x.requiresGrad = true
        let w = Tensor.randn([16, 16, 3, 3], std: 0.2, using: &rng)
        w.requiresGrad = true
        let (y, z) = ActivationFormat.with(.blocked(.f32)) { () -> (Tensor, Tensor) in
            let y = conv2d(x, weight: w, padding: 1)
            let n = batchNorm2d(y, weight: nil, bias: nil, runningMean: nil, runningVar: nil, training: true, relu: true)
            let z = addReLU(n, x)
            z.sum().backward()
            return (y, z)
        }
        XCTAssertEqual(y.format, .blocked(.f32))
        XCTAssertEqual(z.format, .blocked(.f32))
        XCTAssertEqual(x.grad?.format, .plain)
        XCTAssertEqual(w.grad?.format, .plain)
        // The same graph in plain float32.
        let x2 = Tensor(copying: x), w2 = Tensor(copying: w)
        x2.requiresGrad = true; w2.requiresGrad = true
        let z2 = addReLU(batchNorm2d(conv2d(x2, weight: w2, padding: 1), weight: nil, bias: nil, runningMean: nil,
                                     runningVar: nil, training: true, relu: true), x2)
        z2.sum().backward()
        assertClose(z, z2, rtol: 1e-5, "z")
        assertClose(x.grad!, x2.grad!, rtol: 1e-4, "dx")
        assertClose(w.grad!, w2.grad!, rtol: 1e-4, "dw")
    }

    /// One blocked gradient handed to two leaves (a residual add's) becomes two plain gradients
    /// that share no memory, so adding into one cannot change the other.
    func testASharedBlockedGradientGivesLeavesTheirOwnMemory() {
        var rng = RandomGenerator(seed: 6)
        let a = Tensor.randn([2, 16, 3, 3], using: &rng).converted(to: .blocked(.f32))
        let b = Tensor.randn([2, 16, 3, 3], using: &rng).converted(to: .blocked(.f32))
        a.requiresGrad = true; b.requiresGrad = true
        addReLU(a, b).sum().backward()
        let (ga, gb) = (a.grad!, b.grad!)
        XCTAssertEqual(ga.format, .plain)
        XCTAssertFalse(ga.storage === gb.storage, "the two leaves' gradients share memory")
        XCTAssertEqual(ga.toArray(), gb.toArray())
        let before = gb.toArray()
        ga.pointer[0] += 1
        XCTAssertEqual(gb.toArray(), before)
    }

    /// The stem's max pool on a blocked input: the same values, winners (ties: the first in
    /// the window; NaN propagates) and gradients as the plain kernel, for the stem's 3x3/2 pool
    /// and a general one.
    func testBlockedMaxPoolMatchesThePlainOne() {
        var rng = RandomGenerator(seed: 3)
        for (kernel, stride, padding) in [(3, 2, 1), (2, 2, 0), (3, 1, 1)] {
            let x = Tensor(shape: [2, 32, 7, 6], data: (0..<2 * 32 * 42).map { i in
                i == 100 ? .nan : Float(Int(rng.uniform() * 5))  // few distinct values: many ties
            })
            let up = Tensor.randn([2, 32, (7 + 2 * padding - kernel) / stride + 1, (6 + 2 * padding - kernel) / stride + 1], using: &rng)
            let plainInput = Tensor(copying: x), blockedInput = x.converted(to: .blocked(.f32))
            plainInput.requiresGrad = true; blockedInput.requiresGrad = true
            let y = maxPool2d(plainInput, kernel: kernel, stride: stride, padding: padding)
            let by = maxPool2d(blockedInput, kernel: kernel, stride: stride, padding: padding)
            XCTAssertEqual(by.format, .blocked(.f32))
            XCTAssertEqual(by.toArray().map(\.bitPattern), y.toArray().map(\.bitPattern), "max pool \(kernel)/\(stride)")
            y.backward(up)
            by.backward(up)
            XCTAssertEqual(blockedInput.grad!.toArray(), plainInput.grad!.toArray(), "max pool \(kernel)/\(stride) gradient")
        }
    }

    /// On a CPU with bf16 instructions, the bf16 blocked step learns what the float32 one does
    /// as well as the emulated bf16 path (float32 activations, bf16 operands) does: in a step this
    /// small bf16's rounding alone turns gradients by some degrees, so the emulated path is the yardstick.
    func testBF16BlockedStepAgreesWithFloat32AsEmulationDoes() throws {
        guard OneDNN.supports(.bf16) else {
            print("BlockedActivationTests: skipped the bf16 step: oneDNN has no bf16 kernels on this CPU (\(OneDNN.isaName))")
            return
        }
        var rng = RandomGenerator(seed: 9)
        let options = ResNet.Options(numClasses: 4, inChannels: 3, stem: .cifar)
        let x = Tensor.randn([8, 3, 12, 12], using: &rng)
        let labels: [Int32] = [1, 0, 3, 2, 2, 1, 0, 3]
        let model = ResNet(depth: 18, options: options)
        let plain = step(model, x, labels, training: true)
        let bf16 = ComputePrecision.with(.bf16) { ActivationFormat.with(.blocked(.bf16)) { step(model, x, labels, training: true) } }
        let emulated = ComputePrecision.with(.bf16) { ActivationFormat.with(.plain) { step(model, x, labels, training: true) } }
        func cosine(_ a: Tensor, _ b: Tensor) -> Double {
            let (a, b) = (a.toArray().map(Double.init), b.toArray().map(Double.init))
            let norms = (a.map { $0 * $0 }.reduce(0, +) * b.map { $0 * $0 }.reduce(0, +)).squareRoot()
            return zip(a, b).map(*).reduce(0, +) / max(norms, 1e-30)
        }
        XCTAssertEqual(bf16.loss, plain.loss, accuracy: 0.02 * max(abs(plain.loss), 1))
        XCTAssertEqual(bf16.grads.count, plain.grads.count)
        var ours = 0.0, theirs = 0.0
        for (((name, got), (_, want)), (_, yardstick)) in zip(zip(bf16.grads, plain.grads), emulated.grads) {
            let c = cosine(got, want)
            XCTAssertGreaterThan(c, 0.85, "grad \(name): cosine similarity with float32's")
            ours += c; theirs += cosine(yardstick, want)
        }
        let n = Double(plain.grads.count)
        XCTAssertGreaterThan(ours / n, theirs / n - 0.02, "mean cosine similarity with float32's gradients, blocked bf16 against emulated bf16")
    }
}
