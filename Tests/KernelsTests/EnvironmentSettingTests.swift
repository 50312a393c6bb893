import Foundation
@testable import Kernels
import XCTest

/// Environment settings are declared once and a malformed value is an error naming the variable.
final class EnvironmentSettingTests: XCTestCase {
    func testMalformedValuesAreNamedAndGoodOnesRead() throws {
        let names = EnvironmentSetting.all.map(\.name)
        XCTAssertEqual(Set(names).count, 4)
        let saved = names.map { ($0, System.environment($0)) }
        defer { for (name, value) in saved { if let value { setenv(name, value, 1) } else { unsetenv(name) } } }
        for name in names { unsetenv(name) }
        XCTAssertNoThrow(try EnvironmentSetting.validateAll())
        for (name, bad) in [("DDPTRAIN_RING_BYTES", "64k"), ("DDPTRAIN_HIERARCHICAL_ALLREDUCE", "yes"),
                            ("DDPTRAIN_RANKS_PER_HOST", "0"), ("DDPTRAIN_BF16_BACKEND", "fast")] {
            setenv(name, bad, 1)
            XCTAssertThrowsError(try EnvironmentSetting.validateAll(), name) {
                XCTAssertTrue("\($0)".hasPrefix("\(name) must be") && "\($0)".contains("'\(bad)'"), "\($0)")
            }
            unsetenv(name)
        }
        setenv("DDPTRAIN_RING_BYTES", "65536", 1)
        setenv("DDPTRAIN_HIERARCHICAL_ALLREDUCE", "1", 1)
        XCTAssertNoThrow(try EnvironmentSetting.validateAll())
        XCTAssertEqual(EnvironmentSetting.ringBytes.integer, 65536)
        XCTAssertTrue(EnvironmentSetting.hierarchicalAllReduce.isOn)
    }
}
