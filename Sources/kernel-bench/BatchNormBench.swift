import Foundation
import Kernels

/// GB/s of the blocked batch-norm passes (bf16 or float32, as bf16-mixed and fp32 run them) on
/// ResNet-50's largest normalised tensor, next to a plain copy of the same bytes in the same run:
/// how far each pass is from the memory's rate. bf16 runs each build this CPU has (`VectorISA`).
func batchNormBench(batch: Int, image: Int, repeats: Int, element: OneDNN.Element) {
    let g = BlockedBatchNormKernel.Geometry(batch: batch, channels: 256, plane: (image / 4) * (image / 4), element: element)
    let count = g.batch * g.channels * g.plane, bytes = count * (element == .f32 ? 4 : 2)
    let x = Buffer(count, seed: 1), dy = Buffer(count, seed: 2), y = Buffer(count, seed: 3)
    if element == .bf16 {
        // bf16 values, not the halves of float32 ones: those include subnormals, whose slow path would be timed.
        for buffer in [x, dy, y] {
            let values = Array(UnsafeBufferPointer(start: buffer.pointer, count: count))
            BFloat16.convert(values, count: count, into: UnsafeMutableRawPointer(buffer.pointer).assumingMemoryBound(to: UInt16.self))
        }
    }
    let c = g.channels
    let mean = Buffer(c, seed: 4), invStd = Buffer(c, seed: 5), weight = Buffer(c, seed: 6), bias = Buffer(c, seed: 7)
    let sums = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c)
    defer { sums.deallocate() }
    for i in 0..<c { sums[i] = 1; sums[c + i] = 1 }

    func report(_ name: String, moved: Int, _ body: () -> Void) {
        let seconds = median(repeats, body)
        print(pad("  " + name, 34) + String(format: "%7.2f ms %7.1f GB/s", 1000 * seconds, Double(moved * bytes) / seconds / 1e9))
    }
    let isas: [VectorISA] = element == .bf16 && VectorISA.detected == .avx512 ? [.portable, .avx512] : [.portable]
    func timePasses(_ isa: VectorISA) {
        print("\nbatch norm passes, \(element == .f32 ? "float32" : "bf16") blocked, \(isa) build, \(g.batch)x\(g.channels)x\(image / 4)², "
              + "\(bytes >> 20) MiB per tensor (bytes read + written per second)")
        report("copy (memcpy, split by thread)", moved: 2) {
            Parallel.forRanges(bytes, grain: 1 << 20) { r in memcpy(UnsafeMutableRawPointer(y.pointer) + r.lowerBound,
                                                                    UnsafeRawPointer(x.pointer) + r.lowerBound, r.count) }
        }
        report("statistics", moved: 1) {
            BlockedBatchNormKernel.statistics(x: x.pointer, g, sum: sums, sumSquares: sums + c)
        }
        report("normalize + relu", moved: 2) {
            BlockedBatchNormKernel.normalize(x: x.pointer, g, mean: mean.pointer, invStd: invStd.pointer, weight: weight.pointer,
                                             bias: bias.pointer, relu: true, y: y.pointer)
        }
        report("backward reduce (relu)", moved: 3) {
            BlockedBatchNormKernel.backwardReduce(dy: dy.pointer, x: x.pointer, g, mean: mean.pointer, reluOutput: y.pointer,
                                                  sumDy: sums, sumDyXmu: sums + c)
        }
        report("backward input (relu)", moved: 4) {
            BlockedBatchNormKernel.backwardInput(dy: dy.pointer, x: x.pointer, g, mean: mean.pointer, invStd: invStd.pointer,
                                                 weight: weight.pointer, reluOutput: y.pointer, sumDy: sums, sumDyXmu: sums + c,
                                                 count: Double(g.batch * g.plane), dx: dy.pointer)
        }
        report("add + relu", moved: 3) { BlockedElementwiseKernel.addReLU(element, x.pointer, dy.pointer, y.pointer, count: count) }
    }
    for isa in isas { VectorISA.with(isa) { timePasses(isa) } }
}
