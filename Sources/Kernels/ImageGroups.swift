/// Runs `body(worker, firstImage, imageCount, first)` for the groups of `groupSize` images of a
/// batch, the groups split into contiguous ranges over up to `maxWorkers` workers; with more
/// than one, each runs single-threaded BLAS, so groups proceed side by side with no barrier
/// between them. `first` is true for each worker's first group (where a worker's partial sum
/// is overwritten instead of added to). Returns how many workers ran.
@discardableResult
func forEachImageGroup(batch: Int, groupSize: Int, maxWorkers: Int,
                       _ body: (_ worker: Int, _ start: Int, _ count: Int, _ first: Bool) -> Void) -> Int {
    let groups = (batch + groupSize - 1) / groupSize
    let workers = min(max(maxWorkers, 1), Parallel.workerCount(for: groups))
    BLAS.withThreads(workers > 1 ? 1 : BLAS.threads) {
        Parallel.forWorkers(groups, maxWorkers: workers) { worker, range in
            for index in range {
                let start = index * groupSize
                body(worker, start, min(groupSize, batch - start), index == range.lowerBound)
            }
        }
    }
    return workers
}
