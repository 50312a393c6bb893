/// The first `count` samples of a data set, in file order (`--limit N`).
public struct Subset: Dataset {
    public let base: Dataset
    public let count: Int
    public init(_ base: Dataset, first count: Int) {
        self.base = base
        self.count = max(0, min(count, base.count))
    }
    public var classCount: Int { base.classCount }
    public var sampleShape: [Int] { base.sampleShape }
    public var isSegmentation: Bool { base.isSegmentation }
    public func load(_ index: Int, epoch: Int, image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws {
        try base.load(index, epoch: epoch, image: image, labels: labels)
    }
}
