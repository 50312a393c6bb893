import Distributed
import Kernels
import XCTest

final class CommunicatorTests: XCTestCase {
    /// Rank 1 of 3, the other two simulated: their values and bytes are fixed, so what the
    /// protocol's shared collectives (built on the primitives) make of them can be checked.
    final class MiddleRank: Communicator {
        var rank: Int { 1 }
        var size: Int { 3 }
        var localRank: Int { 1 }
        var localSize: Int { 3 }
        /// Ranks 0 and 2's bytes for `allGather`, and their Float and Double contributions.
        let others: [Int: [UInt8]] = [0: Array("first rank".utf8), 2: [7]]
        let floatsOfOthers: [Float] = [10, 20]
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
            for i in buffer.indices { buffer[i] += floatsOfOthers.reduce(0, +) * Float(i + 1) }
        }
        /// The slots of per-rank arrays: the others' byte counts (what `allGather` sums first).
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
            precondition(buffer.count == 3, "only per-rank arrays are expected here")
            for (r, bytes) in others { buffer[r] += Double(bytes.count) }
        }
        func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {}
        func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) -> PendingCollective { fatalError("not used") }
        func startAllReduceSumBF16(_ buffer: UnsafeMutableBufferPointer<UInt16>) -> PendingCollective { fatalError("not used") }
        func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {}
        /// Every rank sends the same (padded) count: the others' bytes padded with 0xEE, not
        /// zeros, so a result that kept the padding would show it.
        func allGather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
            let block = send.count
            for r in 0..<size {
                let target = UnsafeMutableRawBufferPointer(rebasing: receive[(r * block)..<((r + 1) * block)])
                if r == rank { target.copyMemory(from: send); continue }
                let bytes = others[r] ?? []
                for i in 0..<block { target[i] = i < bytes.count ? bytes[i] : 0xEE }
            }
        }
        func barrier() {}
        var collectiveTimeout = 300.0
        var progressContext = ""
        var currentOperation: String?
        func abort(code: Int32) -> Never { exit(code) }
    }

    func testAllGatherOfBytesReturnsEveryRanksBytesAtTheirOwnLength() {
        let gathered = MiddleRank().allGather(Array("mine".utf8))
        XCTAssertEqual(gathered, [Array("first rank".utf8), Array("mine".utf8), [7]])
    }

    func testAverageDividesTheSumByTheWorldSize() {
        var values: [Float] = [1, 2, 3]
        values.withUnsafeMutableBufferPointer { MiddleRank().allReduceAverage($0) }
        // Sums 1 + 30, 2 + 60, 3 + 90 over 3 ranks.
        for (value, expected) in zip(values, [31 / 3, 62 / 3, 93 / 3] as [Float]) { XCTAssertEqual(value, expected, accuracy: 1e-5) }
        XCTAssertEqual(values.count, 3)
    }

    func testDuringNamesTheCollectivesAndRestoresTheOuterName() throws {
        let comm = MiddleRank()
        comm.currentOperation = "outer"
        let inside = comm.during("gradient all-reduce") { comm.currentOperation }
        XCTAssertEqual(inside, "gradient all-reduce")
        XCTAssertEqual(comm.currentOperation, "outer")
        struct Failure: Error {}
        XCTAssertThrowsError(try comm.during("checkpoint") { throw Failure() })
        XCTAssertEqual(comm.currentOperation, "outer", "a collective that throws leaves the outer name in place")
    }

    /// World size 1: every collective is the identity, and nothing waits.
    func testSingleProcessIsWorldSizeOneAndItsCollectivesTheIdentity() {
        let comm = SingleProcessCommunicator()
        XCTAssertEqual([comm.rank, comm.size, comm.localRank, comm.localSize], [0, 1, 0, 1])
        var values: [Float] = [1, 2, 3]
        values.withUnsafeMutableBufferPointer { comm.allReduceAverage($0) }
        XCTAssertEqual(values, [1, 2, 3])
        XCTAssertTrue(values.withUnsafeMutableBufferPointer { comm.startAllReduceSum($0) }.test())
        XCTAssertEqual(comm.allGather(Array("abc".utf8)), [Array("abc".utf8)])
    }

    func testThreadsShareTheNodeBetweenRanks() {
        XCTAssertEqual(ThreadConfiguration.defaultThreads(localRanks: 1, cores: 2), 2)
        XCTAssertEqual(ThreadConfiguration.defaultThreads(localRanks: 2, cores: 2), 1)
        XCTAssertEqual(ThreadConfiguration.defaultThreads(localRanks: 4, cores: 2), 1)
        XCTAssertEqual(ThreadConfiguration.defaultThreads(localRanks: 4, cores: 64), 16)
    }
}
