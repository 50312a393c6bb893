/// How one Winograd pass (forward, input gradient or weight gradient) spreads a batch over the
/// workers, in groups of images whose tiles form the columns of the α² products.
///
/// Two ways: with many tiles per image (large planes), each worker runs its own groups alone,
/// single-threaded, so one worker's transforms (memory-bound) run beside another's products
/// (compute-bound); with few (small planes: ResNet's deep stages), that would leave each
/// product a thin matrix and, for the weight gradient, a transformed partial sum per worker
/// (38 MiB each for 512 channels), so the groups run one after the other, each on all workers:
/// transforms split by channel, the α² products by point.
struct WinogradSchedule: Equatable {
    let tile: Winograd.Tile
    /// Images per group (the last may have fewer).
    let images: Int
    /// Workers running groups of their own; 1 when every group runs on all workers.
    let workers: Int
    /// Floats of scratch one group needs: its transformed inputs and products, and the runs and
    /// planes of every worker running it.
    let groupScratch: Int
    /// Floats of transformed weight-gradient partial sums, one per worker but the first.
    let partialSums: Int

    /// Tiles a group aims at: products of `[O, I] · [I, tiles]` (the weight gradient's
    /// `[O, tiles] · [tiles, I]`) are efficient once `tiles` is in the hundreds.
    nonisolated(unsafe) static var tileTarget = 2048
    /// Tiles below which a worker's own group is too thin a product: the groups then run on all workers.
    nonisolated(unsafe) static var minimumTilesAlone = 128
    /// Floats a group's transformed inputs and products may take when it runs on all workers (24 MiB).
    static let groupFloatsBudget = 6 << 20
    /// The same for each worker's own group (16 MiB).
    static let groupFloatsBudgetAlone = 4 << 20
    /// Floats the weight gradient's partial sums may take (32 MiB).
    static let partialSumsBudget = 8 << 20

    /// The schedule of a pass with tile `t` over shape `s` (for the input gradient, the flipped
    /// shape: same planes, channels swapped); `weightGradient` for the pass that sums over images.
    init(_ s: Conv2dShape, _ t: Winograd.Tile, weightGradient: Bool = false) {
        let threads = max(Parallel.threadCount, 1)
        let perImage = TileGrid(s, t, images: 1).count
        let floatsPerImage = t.alpha * t.alpha * (s.inChannels + s.outChannels) * perImage
        func groupImages(budget: Int, groupsMultipleOf workers: Int) -> Int {
            guard s.batch > 0 else { return 1 }
            let most = max(1, min(s.batch, (Self.tileTarget + perImage - 1) / perImage, budget / floatsPerImage))
            var groups = (s.batch + most - 1) / most
            groups = (groups + workers - 1) / workers * workers
            return (s.batch + groups - 1) / groups
        }
        let alone = groupImages(budget: Self.groupFloatsBudgetAlone, groupsMultipleOf: threads)
        let partials = weightGradient ? (threads - 1) * Winograd.weightCount(s, t) : 0
        tile = t
        if threads > 1 && s.batch >= threads * alone && alone * perImage >= Self.minimumTilesAlone
            && partials <= Self.partialSumsBudget {
            images = alone
            workers = threads
            partialSums = partials
            groupScratch = floatsPerImage * alone + Winograd.TileScratch.count(TileGrid(s, t, images: alone))
        } else {
            images = groupImages(budget: Self.groupFloatsBudget, groupsMultipleOf: 1)
            workers = 1
            partialSums = 0
            groupScratch = floatsPerImage * images + threads * Winograd.TileScratch.count(TileGrid(s, t, images: images))
        }
    }

    /// Floats of scratch the pass needs.
    var scratchCount: Int { workers * groupScratch + partialSums }

    /// Calls `body(worker, firstImage, imageCount, first, groupScratch)` for every group of the
    /// batch (`forEachImageGroup`); `first` is true for each worker's first group. Returns how
    /// many workers ran groups.
    @discardableResult
    func forEachGroup(batch: Int, scratch: UnsafeMutablePointer<Float>,
                      _ body: (_ worker: Int, _ start: Int, _ count: Int, _ first: Bool, _ scratch: UnsafeMutablePointer<Float>) -> Void)
        -> Int {
        forEachImageGroup(batch: batch, groupSize: images, maxWorkers: workers) { worker, start, count, first in
            body(worker, start, count, first, scratch + worker * groupScratch)
        }
    }

    /// Worker `worker`'s weight-gradient partial sum (for workers after the first).
    func partialSum(_ worker: Int, in scratch: UnsafeMutablePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
        scratch + workers * groupScratch + (worker - 1) * count
    }
}
