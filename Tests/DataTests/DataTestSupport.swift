import Foundation

func write(_ bytes: [UInt8], _ path: String) {
    try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// An IDX file: magic 0x08 + dims, big-endian extents, bytes.
func idx(_ extents: [Int], _ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0, 0, 0x08, UInt8(extents.count)]
    for e in extents { out += [UInt8(e >> 24 & 0xFF), UInt8(e >> 16 & 0xFF), UInt8(e >> 8 & 0xFF), UInt8(e & 0xFF)] }
    return out + data
}
