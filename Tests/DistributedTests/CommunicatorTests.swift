import Distributed
import Kernels
import XCTest

final class CommunicatorTests: XCTestCase {
    func testSingleProcessIsWorldSizeOne() {
        let comm = SingleProcessCommunicator()
        XCTAssertEqual([comm.rank, comm.size, comm.localRank, comm.localSize], [0, 1, 0, 1])
        var values: [Float] = [1, 2, 3]
        values.withUnsafeMutableBufferPointer { comm.allReduceAverage($0) }
        XCTAssertEqual(values, [1, 2, 3])
        let pending = values.withUnsafeMutableBufferPointer { comm.startAllReduceSum($0) }
        XCTAssertTrue(pending.test())
        XCTAssertEqual(comm.allGather(Array("abc".utf8)), [Array("abc".utf8)])
    }

    func testThreadsShareTheNodeBetweenRanks() {
        XCTAssertEqual(ThreadConfiguration.defaultThreads(localRanks: 1, cores: 2), 2)
        XCTAssertEqual(ThreadConfiguration.defaultThreads(localRanks: 2, cores: 2), 1)
        XCTAssertEqual(ThreadConfiguration.defaultThreads(localRanks: 4, cores: 2), 1)
        XCTAssertEqual(ThreadConfiguration.defaultThreads(localRanks: 4, cores: 64), 16)
    }
}
