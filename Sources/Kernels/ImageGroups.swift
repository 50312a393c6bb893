/// Runs `body(worker, firstImage, imageCount, first)` for the groups of `groupSize` images of a
/// batch, the groups split into contiguous ranges over up to `maxWorkers` workers (`BLAS.forWorkers`:
/// with more than one, each runs single-threaded BLAS). `first` is true for each worker's first
/// group (where a worker's partial sum is overwritten instead of added to). Returns how many
/// workers ran; each ran at least one group.
@discardableResult
func forEachImageGroup(batch: Int, groupSize: Int, maxWorkers: Int,
                       _ body: (_ worker: Int, _ start: Int, _ count: Int, _ first: Bool) -> Void) -> Int {
    let groups = (batch + groupSize - 1) / groupSize
    return BLAS.forWorkers(groups, maxWorkers: maxWorkers) { worker, range in
        for index in range {
            let start = index * groupSize
            body(worker, start, min(groupSize, batch - start), index == range.lowerBound)
        }
    }
}
