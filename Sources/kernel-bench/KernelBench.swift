import ArgumentParser
import Foundation
import Kernels

/// GFLOP/s of sgemm and of conv2d forward/backward on ResNet-50's (or the CIFAR ResNet-18's)
/// layer shapes, next to the sgemm peak measured in the same run. A benchmark, not a test: it guides performance work.
@main
struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel-bench", abstract: "sgemm and conv2d throughput on ResNet layer shapes.")

    @Option(help: "Batch size for the convolution shapes.") var batch = 16
    @Option(help: "Image size the network is run at.") var imageSize = 224
    @Option(help: "Layer shapes of: resnet50 or resnet18-cifar (one input channel).") var network = "resnet50"
    @Option(help: "Timed repetitions per measurement (the median is reported).") var repeats = 3
    @Option(help: "Threads for BLAS and the other kernels (default: all cores).") var threads: Int?
    @Flag(help: "Only the sgemm peak.") var sgemmOnly = false
    @Option(help: "Only the layers whose name contains this text (for profiling one layer).") var layer: String?
    @Flag(help: "Only the blocked batch-norm passes (bf16 and float32) against a copy of the same bytes.") var batchNorm = false

    func run() throws {
        BLAS.reexecWithTunedEnvironment()
        if let threads { BLAS.threads = threads; Parallel.threadCount = threads }
        print("OpenBLAS core \(BLAS.coreName), \(BLAS.threads) BLAS threads, \(Parallel.threadCount) kernel threads")
        if batchNorm {
            for element in [OneDNN.Element.bf16, .f32] { batchNormBench(batch: batch, image: imageSize, repeats: repeats, element: element) }
            return
        }

        var peak = 0.0
        print("\nsgemm (square, row-major)")
        for n in [1024, 2048, 3072, 4096] {
            let a = Buffer(n * n, seed: 1), b = Buffer(n * n, seed: 2), c = Buffer(n * n, seed: 3)
            let seconds = median(repeats) {
                BLAS.sgemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
            }
            let gflops = 2 * Double(n * n * n) / seconds / 1e9
            peak = max(peak, gflops)
            print(pad("  n=\(n)", 14) + pad(String(format: "%8.1f GFLOP/s", gflops), 18))
        }
        print(String(format: "  peak: %.1f GFLOP/s", peak))
        if sgemmOnly { return }

        let layers: [Layer]
        switch network {
        case "resnet50": layers = resnet50Layers(batch: batch, image: imageSize)
        case "resnet18-cifar": layers = resnet18CIFARLayers(batch: batch, image: imageSize)
        default: throw ValidationError("unknown --network '\(network)': resnet50 or resnet18-cifar")
        }
        let selected = layers.filter { candidate in layer.map { candidate.name.contains($0) } ?? true }
        if selected.isEmpty { throw ValidationError("no \(network) layer's name contains '\(layer ?? "")'") }
        print("\nconv2d on \(network) shapes, batch \(batch), \(imageSize)x\(imageSize) input (GFLOP/s; % of sgemm peak;")
        print("ms per training step: every occurrence's forward and backward, the first layer's without an input gradient)")
        print(pad("layer", 34) + pad("forward", 18) + pad("backward", 18) + pad("weight grad alone", 18) + "ms per step")
        var totals = (forwardFLOPs: 0.0, forwardSeconds: 0.0, backwardFLOPs: 0.0, backwardSeconds: 0.0,
                      weightSeconds: 0.0, stepSeconds: 0.0)
        for layer in selected {
            let s = layer.shape
            let x = Buffer(s.inputCount, seed: 4), w = Buffer(s.weightCount, seed: 5)
            let y = Buffer(s.outputCount, seed: 6), dx = Buffer(s.inputCount, seed: 7), dw = Buffer(s.weightCount, seed: 8)
            let workspace = Buffer(max(Conv2dKernel.backwardWorkspaceCount(s), 1), seed: 9)
            let forward = median(repeats) {
                Conv2dKernel.forward(s, x: x.pointer, weight: w.pointer, bias: nil, y: y.pointer, workspace: workspace.pointer)
            }
            let backward = median(repeats) {
                Conv2dKernel.backward(s, x: x.pointer, weight: w.pointer, dy: y.pointer, dx: dx.pointer, dWeight: dw.pointer,
                                      dBias: nil, workspace: workspace.pointer)
            }
            let weightOnly = median(repeats) {
                Conv2dKernel.backward(s, x: x.pointer, weight: w.pointer, dy: y.pointer, dx: nil, dWeight: dw.pointer,
                                      dBias: nil, workspace: workspace.pointer)
            }
            let flops = s.forwardFLOPs
            let step = Double(layer.count) * (forward + (layer.first ? weightOnly : backward))
            totals.forwardFLOPs += flops; totals.forwardSeconds += forward
            totals.backwardFLOPs += 2 * flops; totals.backwardSeconds += backward
            totals.weightSeconds += weightOnly; totals.stepSeconds += step
            print(pad("  " + layer.name + (layer.count > 1 ? " (×\(layer.count))" : ""), 34) + rate(flops, forward, peak)
                  + rate(2 * flops, backward, peak) + rate(flops, weightOnly, peak) + String(format: "%7.1f", 1000 * step))
        }
        print(pad("  all layers above", 34) + rate(totals.forwardFLOPs, totals.forwardSeconds, peak)
              + rate(totals.backwardFLOPs, totals.backwardSeconds, peak)
              + rate(totals.forwardFLOPs, totals.weightSeconds, peak) + String(format: "%7.1f", 1000 * totals.stepSeconds))
    }

    func rate(_ flops: Double, _ seconds: Double, _ peak: Double) -> String {
        let g = flops / seconds / 1e9
        return pad(String(format: "%7.1f (%3.0f%%)", g, 100 * g / peak), 18)
    }
}

/// One distinct convolution of a network: how many times one step runs it, and whether it is
/// the first layer (whose input needs no gradient).
struct Layer {
    let name: String
    let shape: Conv2dShape
    var count = 1
    var first = false
}

func conv(batch: Int, _ c: Int, _ o: Int, _ k: Int, _ s: Int, _ hw: Int) -> Conv2dShape {
    Conv2dShape(batch: batch, inChannels: c, height: hw, width: hw, outChannels: o, kernelH: k, kernelW: k,
                strideH: s, strideW: s, padH: k / 2, padW: k / 2)
}

/// The distinct convolutions of ResNet-50 (torchvision: the stride on the 3x3 conv), with the
/// number of times each runs.
func resnet50Layers(batch: Int, image: Int) -> [Layer] {
    let r = image / 4  // after the stem
    var layers = [Layer(name: "conv1 7x7/2 3->64", shape: conv(batch: batch, 3, 64, 7, 2, image), first: true)]
    let stages = [(64, 64, r, 3), (128, 256, r, 4), (256, 512, r / 2, 6), (512, 1024, r / 4, 3)]
    for (stage, (planes, inPlanes, hw, blocks)) in stages.enumerated() {
        let stride = stage == 0 ? 1 : 2
        let out = hw / stride
        let tag = "layer\(stage + 1)"
        layers.append(Layer(name: "\(tag) 1x1 \(inPlanes)->\(planes)", shape: conv(batch: batch, inPlanes, planes, 1, 1, hw)))
        if stride == 2 {
            layers.append(Layer(name: "\(tag) 3x3/2 \(planes)", shape: conv(batch: batch, planes, planes, 3, 2, hw)))
            layers.append(Layer(name: "\(tag) 3x3 \(planes)", shape: conv(batch: batch, planes, planes, 3, 1, out), count: blocks - 1))
        } else {
            layers.append(Layer(name: "\(tag) 3x3 \(planes)", shape: conv(batch: batch, planes, planes, 3, 1, hw), count: blocks))
        }
        layers.append(Layer(name: "\(tag) 1x1 \(planes)->\(planes * 4)", shape: conv(batch: batch, planes, planes * 4, 1, 1, out),
                            count: blocks))
        layers.append(Layer(name: "\(tag) 1x1 \(planes * 4)->\(planes)", shape: conv(batch: batch, planes * 4, planes, 1, 1, out),
                            count: blocks - 1))
        layers.append(Layer(name: "\(tag) downsample 1x1/\(stride)", shape: conv(batch: batch, inPlanes, planes * 4, 1, stride, hw)))
    }
    return layers
}

/// The distinct convolutions of ResNet-18 with the CIFAR stem (3x3, no pooling) on one input
/// channel, with the number of times each runs; at 28² the stages run at 28, 14, 7 and 4.
func resnet18CIFARLayers(batch: Int, image: Int) -> [Layer] {
    var layers = [Layer(name: "conv1 3x3 1->64", shape: conv(batch: batch, 1, 64, 3, 1, image), first: true)]
    var hw = image
    for (stage, planes) in [64, 128, 256, 512].enumerated() {
        let tag = "layer\(stage + 1)"
        if stage > 0 {
            let out = (hw + 1) / 2
            layers.append(Layer(name: "\(tag) 3x3/2 \(planes / 2)->\(planes)", shape: conv(batch: batch, planes / 2, planes, 3, 2, hw)))
            layers.append(Layer(name: "\(tag) downsample 1x1/2", shape: conv(batch: batch, planes / 2, planes, 1, 2, hw)))
            hw = out
        }
        layers.append(Layer(name: "\(tag) 3x3 \(planes) at \(hw)", shape: conv(batch: batch, planes, planes, 3, 1, hw),
                            count: stage == 0 ? 4 : 3))
    }
    return layers
}

final class Buffer {
    let pointer: UnsafeMutablePointer<Float>
    init(_ count: Int, seed: UInt64) {
        pointer = .allocate(capacity: count)
        var rng = RandomGenerator(seed: seed)
        for i in 0..<count { pointer[i] = Float(rng.uniform() - 0.5) }
    }
    deinit { pointer.deallocate() }
}

/// Median wall time of `repeats` runs after one warm-up.
func median(_ repeats: Int, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    for _ in 0..<max(repeats, 1) {
        let start = System.now()
        body()
        times.append(System.now() - start)
    }
    return times.sorted()[times.count / 2]
}

func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }
