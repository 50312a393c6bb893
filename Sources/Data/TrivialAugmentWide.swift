import Foundation
import Kernels

/// `--auto-augment`: torchvision's policies by their reference script's names.
public enum AutoAugmentPolicy: String, Codable, CaseIterable, Sendable {
    case none
    case trivialAugmentWide = "ta_wide"
}

/// torchvision's `TrivialAugmentWide` (31 magnitude bins, nearest-neighbour resampling, fill 0)
/// on an 8-bit CHW image, with the arithmetic of torchvision's tensor backend
/// (`transforms/_functional_tensor.py`): one of 14 operations drawn uniformly, its magnitude
/// drawn from its bins, signed operations negated with probability ½.
public enum TrivialAugmentWide {
    public enum Operation: Int, CaseIterable, Sendable {
        case identity, shearX, shearY, translateX, translateY, rotate, brightness, color, contrast, sharpness
        case posterize, solarize, autoContrast, equalize
    }

    public static let bins = 31

    /// The magnitude of bin `bin` and whether its sign is drawn (torchvision's `_augmentation_space`).
    static func magnitude(_ op: Operation, bin: Int) -> (value: Double, signed: Bool) {
        // torch.linspace's values, each the float32 nearest the exact one (torch's own last bit
        // depends on the CPU's vector width).
        func linspace(_ from: Double, _ to: Double) -> Double { Double(Float(from + (to - from) * Double(bin) / Double(bins - 1))) }
        switch op {
        case .identity, .autoContrast, .equalize: return (0, false)
        case .shearX, .shearY, .brightness, .color, .contrast, .sharpness: return (linspace(0, 0.99), true)
        case .translateX, .translateY: return (linspace(0, 32), true)
        case .rotate: return (linspace(0, 135), true)
        case .posterize: return (Double(8 - Int((Double(bin) / (Double(bins - 1) / 6)).rounded(.toNearestOrEven))), false)
        case .solarize: return (linspace(255, 0), false)
        }
    }

    /// The draw: an operation and a signed magnitude.
    public static func draw(_ rng: inout RandomGenerator) -> (Operation, Double) {
        let op = Operation(rawValue: Int(rng.next() % UInt64(Operation.allCases.count)))!
        let hasBins = ![.identity, .autoContrast, .equalize].contains(op)
        let (value, signed) = magnitude(op, bin: hasBins ? Int(rng.next() % UInt64(bins)) : 0)
        return (op, signed && rng.next() & 1 == 1 ? -value : value)
    }

    /// Applies `op` with `magnitude` to `image` (channels × height × width bytes) in place.
    public static func apply(_ op: Operation, magnitude m: Double, to image: inout [UInt8], channels: Int, height: Int, width: Int) {
        let size = (channels, height, width)
        switch op {
        case .identity: return
        case .shearX: affine(&image, size, Inverse(angle: 0, translate: (0, 0), shear: (degrees(atan(m)), 0), centre: (0, 0), width: width, height: height))
        case .shearY: affine(&image, size, Inverse(angle: 0, translate: (0, 0), shear: (0, degrees(atan(m))), centre: (0, 0), width: width, height: height))
        case .translateX: affine(&image, size, Inverse(angle: 0, translate: (Double(Int(m)), 0), shear: (0, 0), centre: nil, width: width, height: height))
        case .translateY: affine(&image, size, Inverse(angle: 0, translate: (0, Double(Int(m))), shear: (0, 0), centre: nil, width: width, height: height))
        // F.rotate passes −angle to the same inverse matrix.
        case .rotate: affine(&image, size, Inverse(angle: -m, translate: (0, 0), shear: (0, 0), centre: nil, width: width, height: height))
        case .brightness: blend(&image, with: { _, _ in 0 }, ratio: 1 + m)
        case .color:
            guard channels == 3 else { return }
            let grey = greyscale(image, height: height, width: width)
            blend(&image, with: { _, p in Float(grey[p]) }, ratio: 1 + m, plane: height * width)
        case .contrast:
            let grey = channels == 3 ? greyscale(image, height: height, width: width) : image
            let mean = grey.reduce(Float(0)) { $0 + Float($1) } / Float(grey.count)
            blend(&image, with: { _, _ in mean }, ratio: 1 + m)
        case .sharpness: sharpen(&image, size, factor: 1 + m)
        case .posterize:
            let mask = UInt8(truncatingIfNeeded: -(1 << (8 - Int(m))))
            for i in image.indices { image[i] &= mask }
        case .solarize:
            for i in image.indices where Double(image[i]) >= m { image[i] = 255 - image[i] }
        case .autoContrast: autoContrast(&image, size)
        case .equalize: equalize(&image, size)
        }
    }

    static func degrees(_ radians: Double) -> Double { radians * 180 / .pi }

    /// `_blend`: ratio·image + (1 − ratio)·other, clamped to [0, 255] and truncated to bytes.
    static func blend(_ image: inout [UInt8], with other: (_ index: Int, _ pixel: Int) -> Float, ratio: Double, plane: Int = 1) {
        let (r, q) = (Float(ratio), Float(1 - ratio))
        for i in image.indices {
            let value = Float(image[i]) * r + other(i, i % plane) * q
            image[i] = UInt8(min(max(value, 0), 255))
        }
    }

    /// `rgb_to_grayscale` of bytes: (0.2989 r + 0.587 g + 0.114 b), truncated to a byte.
    static func greyscale(_ image: [UInt8], height: Int, width: Int) -> [UInt8] {
        let plane = height * width
        return (0..<plane).map { p in
            UInt8(Float(0.2989) * Float(image[p]) + Float(0.587) * Float(image[plane + p]) + Float(0.114) * Float(image[2 * plane + p]))
        }
    }

    /// `adjust_sharpness`: blends with the image smoothed by [[1,1,1],[1,5,1],[1,1,1]]/13 inside a
    /// one-pixel border (rounded half to even), the border kept.
    static func sharpen(_ image: inout [UInt8], _ size: (Int, Int, Int), factor: Double) {
        let (channels, height, width) = size
        guard height > 2 && width > 2 else { return }
        var smooth = image
        let weight = Float(1) / 13
        for c in 0..<channels { for y in 1..<(height - 1) { for x in 1..<(width - 1) {
            var sum = Float(0)
            for dy in -1...1 { for dx in -1...1 {
                let k = dy == 0 && dx == 0 ? 5 * weight : weight
                sum += Float(image[(c * height + y + dy) * width + x + dx]) * k
            } }
            smooth[(c * height + y) * width + x] = UInt8(sum.rounded(.toNearestOrEven))
        } } }
        blend(&image, with: { i, _ in Float(smooth[i]) }, ratio: factor)
    }

    /// `autocontrast`: each channel stretched from its [min, max] to [0, 255], truncated.
    static func autoContrast(_ image: inout [UInt8], _ size: (Int, Int, Int)) {
        let (channels, height, width) = size
        let plane = height * width
        for c in 0..<channels {
            let slice = image[(c * plane)..<((c + 1) * plane)]
            let (low, high) = (Float(slice.min()!), Float(slice.max()!))
            guard high > low else { continue }
            // PyTorch evaluates `255 / t` as reciprocal(t)·255.
            let scale = (1 / (high - low)) * 255
            for i in (c * plane)..<((c + 1) * plane) { image[i] = UInt8(min(max((Float(image[i]) - low) * scale, 0), 255)) }
        }
    }

    /// `equalize`: each channel through the lookup table of its cumulative histogram.
    static func equalize(_ image: inout [UInt8], _ size: (Int, Int, Int)) {
        let (channels, height, width) = size
        let plane = height * width
        for c in 0..<channels {
            var histogram = [Int](repeating: 0, count: 256)
            for i in (c * plane)..<((c + 1) * plane) { histogram[Int(image[i])] += 1 }
            let nonzero = histogram.filter { $0 != 0 }
            let step = nonzero.dropLast().reduce(0, +) / 255
            guard step > 0 else { continue }
            var lut = [UInt8](repeating: 0, count: 256)
            var cumulative = 0
            for v in 0..<255 {
                cumulative += histogram[v]
                lut[v + 1] = UInt8(min((cumulative + step / 2) / step, 255))
            }
            for i in (c * plane)..<((c + 1) * plane) { image[i] = lut[Int(image[i])] }
        }
    }

    /// torchvision's `_get_inverse_affine_matrix`: output pixel → source pixel, both relative to
    /// the image centre, in float32 as its tensor backend holds it.
    struct Inverse {
        var m: [Float]

        init(angle: Double, translate: (Double, Double), shear: (Double, Double), centre: (Double, Double)?, width: Int, height: Int) {
            let (cx, cy) = centre.map { ($0.0 - Double(width) * 0.5, $0.1 - Double(height) * 0.5) } ?? (0, 0)
            let rot = angle * .pi / 180, sx = shear.0 * .pi / 180, sy = shear.1 * .pi / 180
            let a = cos(rot - sy) / cos(sy)
            let b = -cos(rot - sy) * tan(sx) / cos(sy) - sin(rot)
            let c = sin(rot - sy) / cos(sy)
            let d = -sin(rot - sy) * tan(sx) / cos(sy) + cos(rot)
            var matrix = [d, -b, 0, -c, a, 0]
            let (tx, ty) = translate
            matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
            matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
            matrix[2] += cx
            matrix[5] += cy
            m = matrix.map(Float.init)
        }
    }

    /// `F_t.affine` with nearest neighbour: the grid of pixel centres through the inverse matrix
    /// (scaled to [−1, 1] as `_gen_affine_grid` does), `grid_sample` rounding half to even,
    /// zero outside.
    static func affine(_ image: inout [UInt8], _ size: (Int, Int, Int), _ inverse: Inverse) {
        let (channels, height, width) = size
        let (w, h) = (Float(width), Float(height))
        let m = inverse.m
        let (halfW, halfH) = (Float(0.5) * w, Float(0.5) * h)
        let theta = [m[0] / halfW, m[3] / halfH, m[1] / halfW, m[4] / halfH, m[2] / halfW, m[5] / halfH]
        let source = image
        for y in 0..<height {
            let gy = -h * 0.5 + 0.5 + Float(y) * ((h * 0.5 + 0.5 - 1) - (-h * 0.5 + 0.5)) / max(h - 1, 1)
            for x in 0..<width {
                let gx = -w * 0.5 + 0.5 + Float(x) * ((w * 0.5 + 0.5 - 1) - (-w * 0.5 + 0.5)) / max(w - 1, 1)
                let nx = gx * theta[0] + gy * theta[2] + theta[4]
                let ny = gx * theta[1] + gy * theta[3] + theta[5]
                let sx = (((nx + 1) * w - 1) / 2).rounded(.toNearestOrEven)
                let sy = (((ny + 1) * h - 1) / 2).rounded(.toNearestOrEven)
                let inside = sx >= 0 && sx <= w - 1 && sy >= 0 && sy <= h - 1
                for c in 0..<channels {
                    image[(c * height + y) * width + x] = inside ? source[(c * height + Int(sy)) * width + Int(sx)] : 0
                }
            }
        }
    }
}
