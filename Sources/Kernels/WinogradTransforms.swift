// Winograd's transforms as small constant matrices applied to runs of values, entry by entry:
// `Runs` names the input and output runs, each `RunTransform` one matrix, `forLanes` runs it
// eight lanes at a time.

/// Eight lanes at a time (`SIMD8<Float>`), then one at a time (`Float`): each transform's
/// arithmetic is written once for both.
protocol WinogradLanes {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Float, b: Self) -> Self
}

extension Float: WinogradLanes {}
extension SIMD8: WinogradLanes where Scalar == Float {}

/// Input runs `x + k·xs` and output runs `y + k·ys`.
struct Runs {
    let x: UnsafePointer<Float>, xs: Int, y: UnsafeMutablePointer<Float>, ys: Int

    @inline(__always) func load<L: WinogradLanes>(_ run: Int, _ k: Int) -> L {
        UnsafeRawPointer(x + run * xs + k).loadUnaligned(as: L.self)
    }
    @inline(__always) func store<L: WinogradLanes>(_ run: Int, _ k: Int, _ value: L) {
        UnsafeMutableRawPointer(y + run * ys + k).storeBytes(of: value, as: L.self)
    }
}

/// One transform: entry `k` of every output run from entry `k` of the input runs.
protocol RunTransform {
    func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type)
}

@inline(__always) func forLanes<T: RunTransform>(_ transform: T, count: Int) {
    var k = 0
    while k + 8 <= count { transform.step(k, SIMD8<Float>.self); k += 8 }
    while k < count { transform.step(k, Float.self); k += 1 }
}

/// F(2, 3)'s `Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]`.
struct InputTransform2: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (d0, d1, d2, d3): (L, L, L, L) = (r.load(0, k), r.load(1, k), r.load(2, k), r.load(3, k))
        r.store(0, k, d0 - d2); r.store(1, k, d1 + d2); r.store(2, k, d2 - d1); r.store(3, k, d1 - d3)
    }
}

/// F(4, 3)'s `Bᵀ` (interpolation points 0, ±1, ±2, ∞):
/// `[4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]`.
struct InputTransform4: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (d0, d1, d2): (L, L, L) = (r.load(0, k), r.load(1, k), r.load(2, k))
        let (d3, d4, d5): (L, L, L) = (r.load(3, k), r.load(4, k), r.load(5, k))
        let (a, b) = (d4 - 4 * d2, d3 - 4 * d1)     // rows 1 and 2: a ± b
        let (c, d) = (d4 - d2, 2 * (d3 - d1))       // rows 3 and 4: c ± d
        r.store(0, k, 4 * d0 - 5 * d2 + d4)
        r.store(1, k, a + b); r.store(2, k, a - b)
        r.store(3, k, c + d); r.store(4, k, c - d)
        r.store(5, k, 4 * d1 - 5 * d3 + d5)
    }
}

/// F(2, 3)'s `Aᵀ = [1 1 1 0; 0 1 −1 −1]`.
struct OutputTransform2: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (p0, p1, p2, p3): (L, L, L, L) = (r.load(0, k), r.load(1, k), r.load(2, k), r.load(3, k))
        r.store(0, k, p0 + p1 + p2); r.store(1, k, p1 - p2 - p3)
    }
}

/// F(4, 3)'s `Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]`.
struct OutputTransform4: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (p0, p1, p2): (L, L, L) = (r.load(0, k), r.load(1, k), r.load(2, k))
        let (p3, p4, p5): (L, L, L) = (r.load(3, k), r.load(4, k), r.load(5, k))
        let (sum12, diff12, sum34, diff34) = (p1 + p2, p1 - p2, p3 + p4, p3 - p4)
        r.store(0, k, p0 + sum12 + sum34)
        r.store(1, k, diff12 + 2 * diff34)
        r.store(2, k, sum12 + 4 * sum34)
        r.store(3, k, diff12 + 8 * diff34 + p5)
    }
}

/// F(2, 3)'s `A`, the transpose of `Aᵀ`.
struct OutputGradientTransform2: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (g0, g1): (L, L) = (r.load(0, k), r.load(1, k))
        r.store(0, k, g0); r.store(1, k, g0 + g1); r.store(2, k, g0 - g1); r.store(3, k, -1 * g1)
    }
}

/// F(4, 3)'s `A`, the transpose of `Aᵀ`.
struct OutputGradientTransform4: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (g0, g1, g2, g3): (L, L, L, L) = (r.load(0, k), r.load(1, k), r.load(2, k), r.load(3, k))
        let (even1, odd1) = (g0 + g2, g1 + g3)
        let (even2, odd2) = (g0 + 4 * g2, 2 * g1 + 8 * g3)
        r.store(0, k, g0)
        r.store(1, k, even1 + odd1); r.store(2, k, even1 - odd1)
        r.store(3, k, even2 + odd2); r.store(4, k, even2 - odd2)
        r.store(5, k, g3)
    }
}

/// F(2, 3)'s `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]`.
struct WeightTransform2: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (g0, g1, g2): (L, L, L) = (r.load(0, k), r.load(1, k), r.load(2, k))
        let half = 0.5 * (g0 + g2), halfMiddle = 0.5 * g1
        r.store(0, k, g0); r.store(1, k, half + halfMiddle); r.store(2, k, half - halfMiddle); r.store(3, k, g2)
    }
}

/// F(4, 3)'s `G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1]`.
struct WeightTransform4: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (g0, g1, g2): (L, L, L) = (r.load(0, k), r.load(1, k), r.load(2, k))
        let (outer, middle) = (-1.0 / 6 * (g0 + g2), -1.0 / 6 * g1)
        let (outer2, middle2) = (1.0 / 24 * g0 + 1.0 / 6 * g2, 1.0 / 12 * g1)
        r.store(0, k, 0.25 * g0)
        r.store(1, k, outer + middle); r.store(2, k, outer - middle)
        r.store(3, k, outer2 + middle2); r.store(4, k, outer2 - middle2)
        r.store(5, k, g2)
    }
}

/// F(2, 3)'s `Gᵀ`.
struct WeightGradientTransform2: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (d0, d1, d2, d3): (L, L, L, L) = (r.load(0, k), r.load(1, k), r.load(2, k), r.load(3, k))
        let (sum, diff) = (0.5 * (d1 + d2), 0.5 * (d1 - d2))
        r.store(0, k, d0 + sum); r.store(1, k, diff); r.store(2, k, sum + d3)
    }
}

/// F(4, 3)'s `Gᵀ`.
struct WeightGradientTransform4: RunTransform {
    let r: Runs
    @inline(__always) func step<L: WinogradLanes>(_ k: Int, _ lanes: L.Type) {
        let (d0, d1, d2): (L, L, L) = (r.load(0, k), r.load(1, k), r.load(2, k))
        let (d3, d4, d5): (L, L, L) = (r.load(3, k), r.load(4, k), r.load(5, k))
        let (sum12, sum34) = (d1 + d2, d3 + d4)
        r.store(0, k, 0.25 * d0 - 1.0 / 6 * sum12 + 1.0 / 24 * sum34)
        r.store(1, k, 1.0 / 6 * (d2 - d1) + 1.0 / 12 * (d3 - d4))
        r.store(2, k, 1.0 / 6 * (sum34 - sum12) + d5)
    }
}
