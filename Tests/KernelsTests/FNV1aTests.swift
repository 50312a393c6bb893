@testable import Kernels
import XCTest

/// FNV-1a 64 against the published test vectors.
final class FNV1aTests: XCTestCase {
    func testKnownVectors() {
        for (text, expected) in [("", 0xCBF2_9CE4_8422_2325 as UInt64), ("a", 0xAF63_DC4C_8601_EC8C), ("foobar", 0x8594_4171_F739_67E8)] {
            var h = FNV1a()
            h.add(text.utf8)
            XCTAssertEqual(h.value, expected, text)
        }
    }
}
