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

    func run() throws {
        BLAS.reexecWithTunedEnvironment()
        if let threads { BLAS.threads = threads; Parallel.threadCount = threads }
        print("OpenBLAS core \(BLAS.coreName), \(BLAS.threads) BLAS threads, \(Parallel.threadCount) kernel threads")

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

        let shapes: [(String, Conv2dShape)]
        switch network {
        case "resnet50": shapes = resnet50Shapes(batch: batch, image: imageSize)
        case "resnet18-cifar": shapes = resnet18CIFARShapes(batch: batch, image: imageSize)
        default: throw ValidationError("unknown --network '\(network)': resnet50 or resnet18-cifar")
        }
        print("\nconv2d on \(network) shapes, batch \(batch), \(imageSize)x\(imageSize) input (GFLOP/s; % of sgemm peak)")
        print(pad("layer", 34) + pad("forward", 18) + pad("backward", 18) + pad("weight grad alone", 18))
        var totals = (forwardFLOPs: 0.0, forwardSeconds: 0.0, backwardFLOPs: 0.0, backwardSeconds: 0.0,
                      weightSeconds: 0.0)
        for (name, s) in shapes {
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
            totals.forwardFLOPs += flops; totals.forwardSeconds += forward
            totals.backwardFLOPs += 2 * flops; totals.backwardSeconds += backward
            totals.weightSeconds += weightOnly
            print(pad("  " + name, 34) + rate(flops, forward, peak) + rate(2 * flops, backward, peak)
                  + rate(flops, weightOnly, peak))
        }
        print(pad("  all layers above", 34) + rate(totals.forwardFLOPs, totals.forwardSeconds, peak)
              + rate(totals.backwardFLOPs, totals.backwardSeconds, peak)
              + rate(totals.forwardFLOPs, totals.weightSeconds, peak))
    }

    func rate(_ flops: Double, _ seconds: Double, _ peak: Double) -> String {
        let g = flops / seconds / 1e9
        return pad(String(format: "%7.1f (%3.0f%%)", g, 100 * g / peak), 18)
    }
}

/// The distinct convolutions of ResNet-50 (torchvision), one of each.
func resnet50Shapes(batch: Int, image: Int) -> [(String, Conv2dShape)] {
    func conv(_ c: Int, _ o: Int, _ k: Int, _ s: Int, _ hw: Int) -> Conv2dShape {
        Conv2dShape(batch: batch, inChannels: c, height: hw, width: hw, outChannels: o, kernelH: k, kernelW: k,
                    strideH: s, strideW: s, padH: k / 2, padW: k / 2)
    }
    let r = image / 4  // after the stem
    var shapes: [(String, Conv2dShape)] = [("conv1 7x7/2 3->64", conv(3, 64, 7, 2, image))]
    for (stage, (planes, inPlanes, hw)) in [(64, 64, r), (128, 256, r), (256, 512, r / 2), (512, 1024, r / 4)].enumerated() {
        let stride = stage == 0 ? 1 : 2
        let out = hw / stride
        let tag = "layer\(stage + 1)"
        shapes.append(("\(tag) 1x1 \(inPlanes)->\(planes)", conv(inPlanes, planes, 1, 1, hw)))
        shapes.append(("\(tag) 3x3/\(stride) \(planes)", conv(planes, planes, 3, stride, hw)))
        if stride == 2 { shapes.append(("\(tag) 3x3 \(planes)", conv(planes, planes, 3, 1, out))) }
        shapes.append(("\(tag) 1x1 \(planes)->\(planes * 4)", conv(planes, planes * 4, 1, 1, out)))
        shapes.append(("\(tag) 1x1 \(planes * 4)->\(planes)", conv(planes * 4, planes, 1, 1, out)))
        shapes.append(("\(tag) downsample 1x1/\(stride)", conv(inPlanes, planes * 4, 1, stride, hw)))
    }
    return shapes
}

/// The distinct convolutions of ResNet-18 with the CIFAR stem (3x3, no pooling) on one input
/// channel, one of each; at 28² the stages run at 28, 14, 7 and 4.
func resnet18CIFARShapes(batch: Int, image: Int) -> [(String, Conv2dShape)] {
    func conv(_ c: Int, _ o: Int, _ k: Int, _ s: Int, _ hw: Int) -> Conv2dShape {
        Conv2dShape(batch: batch, inChannels: c, height: hw, width: hw, outChannels: o, kernelH: k, kernelW: k,
                    strideH: s, strideW: s, padH: k / 2, padW: k / 2)
    }
    var shapes: [(String, Conv2dShape)] = [("conv1 3x3 1->64", conv(1, 64, 3, 1, image))]
    var hw = image
    for (stage, planes) in [64, 128, 256, 512].enumerated() {
        let tag = "layer\(stage + 1)"
        if stage > 0 {
            let out = (hw + 1) / 2
            shapes.append(("\(tag) 3x3/2 \(planes / 2)->\(planes)", conv(planes / 2, planes, 3, 2, hw)))
            shapes.append(("\(tag) downsample 1x1/2", conv(planes / 2, planes, 1, 2, hw)))
            hw = out
        }
        shapes.append(("\(tag) 3x3 \(planes) at \(hw)", conv(planes, planes, 3, 1, hw)))
    }
    return shapes
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
