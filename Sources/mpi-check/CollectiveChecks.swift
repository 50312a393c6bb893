import Distributed
import Kernels

/// Every collective against values each rank can compute on its own.
func checkCollectives(_ comm: MPICommunicator, _ check: (Bool, String) -> Void) {
    let (rank, size) = (comm.rank, comm.size)
    // all-reduce sum (Float and Double) and max
    var floats = (0..<1000).map { Float($0 + rank) }
    floats.withUnsafeMutableBufferPointer { comm.allReduceSum($0) }
    check(floats.enumerated().allSatisfy { $0.element == Float(size * $0.offset + size * (size - 1) / 2) }, "allReduceSum(Float)")
    var doubles = [Double(rank), 1.5]
    comm.allReduceSum(&doubles)
    check(doubles == [Double(size * (size - 1) / 2), 1.5 * Double(size)], "allReduceSum(Double)")
    var peaks = [Double(rank), -Double(rank)]
    comm.allReduceMax(&peaks)
    check(peaks == [Double(size - 1), 0], "allReduceMax")

    // average
    var averaged: [Float] = [Float(rank * 2)]
    averaged.withUnsafeMutableBufferPointer { comm.allReduceAverage($0) }
    check(averaged == [Float(size - 1)], "allReduceAverage")

    // non-blocking all-reduce, split into chunks smaller than the buffer
    comm.maxElementsPerCall = 7
    var pendingBuffer = (0..<50).map { _ in Float(rank + 1) }
    let pending = pendingBuffer.withUnsafeMutableBufferPointer { comm.startAllReduceSum($0) }
    while !pending.test() {}
    pending.wait()
    check(pendingBuffer.allSatisfy { $0 == Float(size * (size + 1) / 2) }, "startAllReduceSum in chunks of 7")
    var chunked = (0..<20).map { Float($0) }
    chunked.withUnsafeMutableBufferPointer { comm.allReduceSum($0) }
    check(chunked == (0..<20).map { Float($0 * size) }, "allReduceSum in chunks of 7")
    comm.maxElementsPerCall = Int(Int32.max)

    // The ring all-reduce (float32 buffers of ringMinimumBytes and more): exact sums of integers,
    // a length no world size divides, several in flight at once, and the same through MPI's own.
    let ringCount = (comm.ringMinimumBytes / 4) + 3 * size + 1
    var rings = (0..<3).map { k in (0..<ringCount).map { Float(($0 + k) % 1000 + rank) } }
    let ringPending = (0..<3).map { k in rings[k].withUnsafeMutableBufferPointer { comm.startAllReduceSum($0) } }
    for pending in ringPending.reversed() { pending.wait() }
    func ringExpected(_ i: Int, _ k: Int) -> Float { Float(size * ((i + k) % 1000) + size * (size - 1) / 2) }
    let ringsCorrect = (0..<3).allSatisfy { k in rings[k].indices.allSatisfy { rings[k][$0] == ringExpected($0, k) } }
    check(ringsCorrect, "ring all-reduce of \(ringCount) floats, 3 in flight, waited out of order")
    let ringSetting = comm.ringMinimumBytes
    comm.ringMinimumBytes = 0
    var viaMPI = (0..<ringCount).map { Float($0 % 1000 + rank) }
    viaMPI.withUnsafeMutableBufferPointer { comm.startAllReduceSum($0) }.wait()
    comm.ringMinimumBytes = ringSetting
    check(viaMPI == rings[0], "the ring and MPI's all-reduce agree")

    // bf16 all-reduce (gradient compression), through MPI's operation (short buffers) and around
    // the ring (from ringMinimumBytes): exact on values whose sums bf16 holds exactly, within a
    // bf16 rounding per partial sum on others, and the same bits on every rank.
    for (count, path) in [(257, "MPI's operation"), (comm.ringMinimumBytes / 2 + 3 * size + 1, "the ring")] {
        var exactBF16 = (0..<count).map { BFloat16.bits(Float($0 % 8) + Float(rank) * 0.5) }
        let exactPending = exactBF16.withUnsafeMutableBufferPointer { comm.startAllReduceSumBF16($0) }
        exactPending.wait()
        check(exactBF16.enumerated().allSatisfy {
            Float(bitPattern: UInt32($0.element) << 16) == Float(size * ($0.offset % 8)) + 0.25 * Float(size * (size - 1))
        }, "startAllReduceSumBF16 (\(path), \(count) values) on exactly representable sums")
        func value(_ i: Int, _ r: Int) -> Float { Float(i % 257) * 0.01 + Float(r) * 0.003 }
        var roundedBF16 = (0..<count).map { BFloat16.bits(value($0, rank)) }
        let roundedPending = roundedBF16.withUnsafeMutableBufferPointer { comm.startAllReduceSumBF16($0) }
        roundedPending.wait()
        let worst = roundedBF16.enumerated().map { i, bits -> Float in
            let exact = (0..<size).map { r in value(i, r) }.reduce(0, +)
            return abs(Float(bitPattern: UInt32(bits) << 16) - exact) / max(abs(exact), 1e-3)
        }.max() ?? 1
        check(worst <= Float(size) / 256, "startAllReduceSumBF16 (\(path)) within bf16 rounding per partial sum (worst \(worst))")
        let digest = roundedBF16.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        let digests = comm.allGather(withUnsafeBytes(of: digest) { Array($0) })
        check(digests.allSatisfy { $0 == digests[0] }, "startAllReduceSumBF16 (\(path)) gives every rank the same bits")
    }

    // broadcast from the last rank
    var message = Array("rank \(rank)".utf8) + [UInt8](repeating: 0, count: 8)
    message.withUnsafeMutableBytes { comm.broadcast($0, root: size - 1) }
    check(String(decoding: message.prefix { $0 != 0 }, as: UTF8.self) == "rank \(size - 1)", "broadcast")

    // all-gather of different lengths
    let gathered = comm.allGather(Array(String(repeating: "x", count: rank + 1).utf8))
    check(gathered.map(\.count) == (0..<size).map { $0 + 1 }, "allGather")
    check(comm.localSize >= 1 && comm.localRank < comm.localSize, "local rank \(comm.localRank) of \(comm.localSize)")
}
