import Optim
import XCTest

final class LRScheduleTests: XCTestCase {
    func testDecays() {
        let step = LRSchedule(.step(every: 30, gamma: 0.1))
        XCTAssertEqual(step.factor(atEpoch: 29.9), 1, accuracy: 1e-12)
        XCTAssertEqual(step.factor(atEpoch: 30), 0.1, accuracy: 1e-12)
        XCTAssertEqual(step.factor(atEpoch: 65), 0.01, accuracy: 1e-12)
        let multi = LRSchedule(.multiStep(milestones: [30, 60, 80], gamma: 0.1))
        XCTAssertEqual(multi.factor(atEpoch: 79), 0.01, accuracy: 1e-12)
        XCTAssertEqual(multi.factor(atEpoch: 80), 0.001, accuracy: 1e-12)
        let cosine = LRSchedule(.cosine(totalEpochs: 10, minFactor: 0))
        XCTAssertEqual(cosine.factor(atEpoch: 0), 1, accuracy: 1e-12)
        XCTAssertEqual(cosine.factor(atEpoch: 5), 0.5, accuracy: 1e-12)
        XCTAssertEqual(cosine.factor(atEpoch: 10), 0, accuracy: 1e-12)
        XCTAssertEqual(LRSchedule().factor(atEpoch: 123), 1)
    }

    func testLinearWarmup() {
        let schedule = LRSchedule(.multiStep(milestones: [30], gamma: 0.1), warmupEpochs: 5, warmupStartFactor: 0.1)
        XCTAssertEqual(schedule.factor(atEpoch: 0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(schedule.factor(atEpoch: 2.5), 0.55, accuracy: 1e-12)
        XCTAssertEqual(schedule.factor(atEpoch: 5), 1, accuracy: 1e-12)
        XCTAssertEqual(schedule.factor(atEpoch: 31), 0.1, accuracy: 1e-12)
        let cosine = LRSchedule(.cosine(totalEpochs: 15, minFactor: 0), warmupEpochs: 5)
        XCTAssertEqual(cosine.factor(atEpoch: 10), 0.5, accuracy: 1e-12)
    }
}
