/// The tiles of a group of `n` images: tile `q = (image, ty, tx)` covers output rows
/// `m·ty ..< m·ty + m` and columns likewise, and reads the α×α input patch one row and column
/// earlier. Each image is copied into a zero-bordered plane (`paddedH × paddedW`, the image at
/// row and column 1) so that every patch and tile lies inside it, and `origins[q]` is the offset
/// of tile q's patch there: gathering and scattering then run over all tiles of the group in one
/// loop, whatever the image size.
struct TileGrid {
    let tile: Winograd.Tile
    let images, height, width, tilesH, tilesW, paddedH, paddedW: Int
    var count: Int { images * tilesH * tilesW }
    var planeFloats: Int { images * paddedH * paddedW }

    init(_ s: Conv2dShape, _ t: Winograd.Tile, images: Int) {
        tile = t
        self.images = images
        height = s.height; width = s.width
        tilesH = (s.height + t.m - 1) / t.m; tilesW = (s.width + t.m - 1) / t.m
        paddedH = t.m * tilesH + 2; paddedW = t.m * tilesW + 2
    }

    func withOrigins(_ body: (UnsafePointer<Int32>) -> Void) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: count) { buffer in
            let origins = buffer.baseAddress!
            var q = 0
            for image in 0..<images {
                for ty in 0..<tilesH {
                    for tx in 0..<tilesW {
                        origins[q] = Int32(image * paddedH * paddedW + tile.m * (ty * paddedW + tx))
                        q += 1
                    }
                }
            }
            body(origins)
        }
    }

    func clear(_ planes: UnsafeMutablePointer<Float>) { planes.update(repeating: 0, count: planeFloats) }

    /// Copies one channel of each image (`source + image·imageStride`, `H × W`) inside its plane.
    func loadImages(_ source: UnsafePointer<Float>, imageStride: Int, into planes: UnsafeMutablePointer<Float>) {
        for image in 0..<images {
            let plane = planes + image * paddedH * paddedW + paddedW + 1
            let src = source + image * imageStride
            for row in 0..<height { (plane + row * paddedW).update(from: src + row * width, count: width) }
        }
    }

    /// The reverse, plus `bias`: the planes' image parts out to `target + image·imageStride`.
    func storeImages(_ planes: UnsafePointer<Float>, bias: Float, into target: UnsafeMutablePointer<Float>, imageStride: Int) {
        for image in 0..<images {
            let plane = planes + image * paddedH * paddedW + paddedW + 1
            let dst = target + image * imageStride
            for row in 0..<height {
                let from = plane + row * paddedW, to = dst + row * width
                for col in 0..<width { to[col] = from[col] + bias }
            }
        }
    }

    /// `runs[(i, j)][q]` = element (i, j) of tile q's α×α patch.
    func gatherPatches(_ planes: UnsafePointer<Float>, origins: UnsafePointer<Int32>, into runs: UnsafeMutablePointer<Float>) {
        gather(planes, side: tile.alpha, offset: 0, origins: origins, into: runs)
    }

    /// `runs[(r, c)][q]` = element (r, c) of tile q's m×m outputs (one row and column into its patch).
    func gatherTiles(_ planes: UnsafePointer<Float>, origins: UnsafePointer<Int32>, into runs: UnsafeMutablePointer<Float>) {
        gather(planes, side: tile.m, offset: 1, origins: origins, into: runs)
    }

    /// `runs[(r, c)][q]` = element (offset + r, offset + c) of tile q's patch, for r, c < side.
    private func gather(_ planes: UnsafePointer<Float>, side: Int, offset: Int, origins: UnsafePointer<Int32>,
                        into runs: UnsafeMutablePointer<Float>) {
        for r in 0..<side {
            for c in 0..<side {
                let run = runs + (r * side + c) * count, from = planes + (r + offset) * paddedW + c + offset
                for q in 0..<count { run[q] = from[Int(origins[q])] }
            }
        }
    }

    /// The reverse of `gatherTiles`: tiles past the image's edge write into the border.
    func scatterTiles(_ runs: UnsafePointer<Float>, origins: UnsafePointer<Int32>, into planes: UnsafeMutablePointer<Float>) {
        let m = tile.m
        for r in 0..<m {
            for c in 0..<m {
                let run = runs + (r * m + c) * count, to = planes + (r + 1) * paddedW + c + 1
                for q in 0..<count { to[Int(origins[q])] = run[q] }
            }
        }
    }
}
