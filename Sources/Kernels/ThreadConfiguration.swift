/// How many threads a rank's BLAS calls and kernels use. By default the node's cores are
/// shared evenly among the ranks on the node, so two ranks on two cores get one each
/// instead of four threads fighting over two cores.
public enum ThreadConfiguration {
    /// `cores ÷ localRanks`, at least 1.
    public static func defaultThreads(localRanks: Int, cores: Int = System.coreCount) -> Int {
        max(1, cores / max(localRanks, 1))
    }

    /// Sets both the BLAS and the kernel thread counts.
    public static func apply(threads: Int) {
        let n = max(1, threads)
        BLAS.threads = n
        Parallel.threadCount = n
    }
}
