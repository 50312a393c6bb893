import Kernels

/// The small-image training transform (CIFAR's and Fashion-MNIST's recipes): a random crop of
/// the image's own size from the image zero-padded by `padding` on every side, and a horizontal
/// flip with probability ½. The draw depends on (seed, epoch, index) only.
struct PaddedCropFlip: Sendable, Equatable {
    /// nil or 0: no crop.
    var padding: Int?
    var flip: Bool

    static let none = PaddedCropFlip(padding: nil, flip: false)

    /// Row and column offsets of the crop and whether it is mirrored.
    func draw(seed: UInt64, epoch: Int, index: Int) -> (dy: Int, dx: Int, mirrored: Bool) {
        guard padding != nil || flip else { return (0, 0, false) }
        var rng = RandomGenerator(seed: seed, stream: UInt64(epoch), UInt64(index))
        var dy = 0, dx = 0
        if let p = padding, p > 0 {
            dy = Int(rng.next() % UInt64(2 * p + 1)) - p
            dx = Int(rng.next() % UInt64(2 * p + 1)) - p
        }
        return (dy, dx, flip && rng.next() & 1 == 1)
    }

    /// Writes a `height × width` plane: output (y, x) takes `value(sy, sx)` of the source pixel
    /// the crop and flip put there, or `fill` where that falls in the padding.
    @inline(__always)
    static func apply<T>(height: Int, width: Int, dy: Int, dx: Int, mirrored: Bool, fill: T, into out: UnsafeMutablePointer<T>,
                         value: (_ sy: Int, _ sx: Int) -> T) {
        for y in 0..<height {
            let sy = y + dy
            let row = out + y * width
            guard sy >= 0 && sy < height else {
                row.update(repeating: fill, count: width)
                continue
            }
            for x in 0..<width {
                let sx = (mirrored ? width - 1 - x : x) + dx
                row[x] = sx >= 0 && sx < width ? value(sy, sx) : fill
            }
        }
    }
}
