import Autograd
import Distributed
import Foundation
import Kernels
import Models
import NN
import TestSupport
import Training
import XCTest

final class TimelineTests: XCTestCase {
    /// `--timeline`: a Chrome trace with every step's phases, each bucket's all-reduce on a thread
    /// of its own, the evaluations and checkpoints, in time order per thread.
    func testTimelineDrawsEveryStep() throws {
        let folder = temporaryFolder("timeline")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = smallConfig(folder)
        config.timeline = "\(folder)/trace.json"
        let (_, summary) = try trainOnce(config)
        let trace = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/trace.json"))) as! [String: Any]
        let events = (trace["traceEvents"] as! [[String: Any]]).filter { $0["ph"] as? String == "X" }
        func count(_ name: String) -> Int { events.filter { $0["name"] as? String == name }.count }
        XCTAssertEqual(count("forward"), summary.steps)
        XCTAssertEqual(count("backward"), summary.steps)
        XCTAssertEqual(count("optimizer"), summary.steps)
        XCTAssertEqual(count("data"), summary.steps)
        XCTAssertEqual(count("evaluation"), 2, "one per epoch")
        XCTAssertGreaterThanOrEqual(count("checkpoint"), 2)
        let buckets = events.filter { ($0["name"] as? String)?.hasSuffix("all-reduce") == true }
        XCTAssertFalse(buckets.isEmpty)
        XCTAssertTrue(buckets.allSatisfy { $0["tid"] as? Int == 1 })
        let forwards = events.filter { $0["name"] as? String == "forward" }.map { $0["ts"] as! Double }
        XCTAssertEqual(forwards, forwards.sorted(), "steps in time order")
        XCTAssertTrue(events.allSatisfy { ($0["dur"] as! Double) >= 0 && ($0["ts"] as! Double) >= 0 })
    }
}
