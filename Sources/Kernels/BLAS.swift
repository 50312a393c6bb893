import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Matrix products through OpenBLAS, and the library's run-time settings.
public enum BLAS {
    /// `C = alpha * op(A) * op(B) + beta * C`, row-major; `op(A)` is m×k, `op(B)` is k×n.
    /// Under `ComputePrecision.bf16` the operands are rounded to bf16 (`BF16GEMM`).
    @inline(__always)
    public static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // C = beta * C; OpenBLAS would do the same, but keep it explicit.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        if ComputePrecision.current == .bf16 {
            BF16GEMM.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                          beta: beta, c: c, ldc: ldc)
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y += alpha * x`.
    @inline(__always)
    public static func axpy(_ count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        var done = 0
        while done < count {  // BLAS counts are 32-bit
            let n = min(count - done, Int(Int32.max))
            cblas_saxpy(Int32(n), alpha, x + done, 1, y + done, 1)
            done += n
        }
    }

    /// The kernel family OpenBLAS chose when it loaded ("SkylakeX", "Haswell", "Prescott", ...).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Runs `body` with OpenBLAS limited to `count` threads, for callers that run several
    /// sgemms side by side on their own threads.
    public static func withThreads<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        let saved = threads
        guard saved != count else { return try body() }
        threads = count
        defer { threads = saved }
        return try body()
    }

    /// `Parallel.forWorkers` for loops whose workers each call sgemm: with more than one worker,
    /// OpenBLAS runs single-threaded inside each, so the workers' products proceed side by side
    /// with no barrier between them; a lone worker keeps all of OpenBLAS's threads. Returns how
    /// many workers ran.
    @discardableResult
    static func forWorkers(_ count: Int, maxWorkers: Int = .max,
                           _ body: (_ worker: Int, _ range: Range<Int>) -> Void) -> Int {
        let workers = min(max(maxWorkers, 1), Parallel.workerCount(for: count))
        withThreads(workers > 1 ? 1 : threads) { Parallel.forWorkers(count, maxWorkers: workers, body) }
        return workers
    }

    /// The `OPENBLAS_CORETYPE` this CPU deserves, judged from its feature flags.
    public static func preferredCoreType(flags: Set<String> = System.cpuFlags()) -> String? {
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// Vector width a kernel family uses: 0 for SSE-era fallbacks, 1 for AVX, 2 for AVX2, 3 for AVX-512.
    /// OpenBLAS 0.3.21 takes some newer CPUs for an older family (an AVX-512 Xeon for
    /// "Prescott", Zen 4 for "Zen"), which costs up to 4x in sgemm.
    static func tier(ofCore name: String) -> Int {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen", "excavator": return 2
        case "sandybridge", "steamroller", "piledriver", "bulldozer": return 1
        default: return 0
        }
    }

    /// True when OpenBLAS loaded a kernel family below what the CPU can run and nobody chose it:
    /// a core pinned through `OPENBLAS_CORETYPE` is the user's decision, never a degradation.
    public static func coreIsDegraded(loadedCore: String = coreName, flags: Set<String> = System.cpuFlags(),
                                      environment: (String) -> String? = System.environment) -> Bool {
        coreTypeToForce(loadedCore: loadedCore, flags: flags, environmentSet: environment("OPENBLAS_CORETYPE") != nil) != nil
    }

    /// The `OPENBLAS_CORETYPE` to restart with, or nil when the loaded core is right or the
    /// user chose one already (their choice stands).
    public static func coreTypeToForce(loadedCore: String, flags: Set<String>, environmentSet: Bool) -> String? {
        guard !environmentSet, let preferred = preferredCoreType(flags: flags),
              tier(ofCore: loadedCore) < tier(ofCore: preferred) else { return nil }
        return preferred
    }

    /// What ddptrain wants in OpenBLAS's environment, for the variables the user has not set:
    /// the core type when the loaded one is below the CPU (see `coreTypeToForce`), a short spin
    /// for idle BLAS threads (`OPENBLAS_THREAD_TIMEOUT=4`; by default they busy-wait after every
    /// call and fight the kernels' own threads for the cores: the README has the figures), and
    /// idle OpenMP threads (oneDNN's) that sleep (`OMP_WAIT_POLICY=PASSIVE`).
    public static func tunedEnvironment(current: (String) -> String? = System.environment) -> [String: String] {
        var wanted: [String: String] = [:]
        if let core = coreTypeToForce(loadedCore: coreName, flags: System.cpuFlags(),
                                      environmentSet: current("OPENBLAS_CORETYPE") != nil) {
            wanted["OPENBLAS_CORETYPE"] = core
        }
        if current("OPENBLAS_THREAD_TIMEOUT") == nil { wanted["OPENBLAS_THREAD_TIMEOUT"] = "4" }
        // oneDNN's OpenMP threads sleep between primitives instead of spinning against our
        // kernels' threads (libgomp reads this when it loads).
        if current("OMP_WAIT_POLICY") == nil { wanted["OMP_WAIT_POLICY"] = "PASSIVE" }
        return wanted
    }

    /// OpenBLAS reads its environment while it loads, before any of our code runs, so the only
    /// way to change it is to restart the process with the variables set. Returns only when no
    /// restart is needed (or the restart failed).
    public static func reexecWithTunedEnvironment(arguments: [String] = CommandLine.arguments) {
        let wanted = tunedEnvironment()
        guard !wanted.isEmpty else { return }
        for (name, value) in wanted { setenv(name, value, 1) }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // execv returns only on failure: carry on with the library as it loaded.
        for pointer in argv { free(pointer) }
    }
}
