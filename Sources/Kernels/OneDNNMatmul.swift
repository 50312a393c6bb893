import CDNNL
import Foundation

/// bf16 × bf16 → float32 matrix products through oneDNN's matmul primitive, which picks
/// AVX512-BF16 or AMX kernels itself. One primitive per shape, created on first use and kept;
/// each thread executes on its own stream.
enum OneDNNMatmul {
    /// oneDNN has bf16 instructions to run on here, and its product agreed with the emulated
    /// one on a small case (checked once, so a library or CPU surprise falls back instead of
    /// training on wrong numbers).
    static let isUsable: Bool = {
        guard System.environment("DDPTRAIN_BF16_BACKEND") != "emulated" else { return false }
        let isa = dnnl_get_effective_cpu_isa().rawValue
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        guard isa & bf16 == bf16, engine != nil else { return false }
        return agreesWithEmulation()
    }()

    static var isaName: String {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        if isa & dnnl_cpu_isa_avx512_core_amx.rawValue == dnnl_cpu_isa_avx512_core_amx.rawValue { return "AMX" }
        if isa & dnnl_cpu_isa_avx512_core_bf16.rawValue == dnnl_cpu_isa_avx512_core_bf16.rawValue { return "AVX512-BF16" }
        return "no bf16 instructions"
    }

    nonisolated(unsafe) static let engine: dnnl_engine_t? = {
        var engine: dnnl_engine_t?
        return dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? engine : nil
    }()

    struct Shape: Hashable {
        var transA: Bool, transB: Bool, m: Int, n: Int, k: Int, ldc: Int, alpha: Float, beta: Float
    }

    /// A primitive and the memory descriptors it was made for.
    final class Plan: @unchecked Sendable {
        let primitive: dnnl_primitive_t
        var a = dnnl_memory_desc_t(), b = dnnl_memory_desc_t(), c = dnnl_memory_desc_t()
        init(primitive: dnnl_primitive_t, a: dnnl_memory_desc_t, b: dnnl_memory_desc_t, c: dnnl_memory_desc_t) {
            self.primitive = primitive; self.a = a; self.b = b; self.c = c
        }
    }

    nonisolated(unsafe) private static var plans: [Shape: Plan?] = [:]
    private static let lock = NSLock()

    /// `C = alpha·op(A)·op(B) + beta·C` on dense bf16 operands (op(A) stored m×k or, transposed,
    /// k×m); false when oneDNN has no primitive for it.
    static func run(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<UInt16>,
                    b: UnsafePointer<UInt16>, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        let shape = Shape(transA: transA, transB: transB, m: m, n: n, k: k, ldc: ldc, alpha: alpha, beta: beta)
        guard let engine, let plan = lock.withLock({ () -> Plan? in
            if let known = plans[shape] { return known }
            let made = makePlan(shape, engine: engine)
            plans[shape] = made
            return made
        }), let stream = Streams.current(engine) else { return false }
        omp_set_num_threads(Int32(BLAS.threads))
        var memories: [dnnl_memory_t?] = [nil, nil, nil]
        defer { for memory in memories where memory != nil { dnnl_memory_destroy(memory) } }
        guard dnnl_memory_create(&memories[0], &plan.a, engine, UnsafeMutableRawPointer(mutating: a)) == dnnl_success,
              dnnl_memory_create(&memories[1], &plan.b, engine, UnsafeMutableRawPointer(mutating: b)) == dnnl_success,
              dnnl_memory_create(&memories[2], &plan.c, engine, c) == dnnl_success else { return false }
        var args = [dnnl_exec_arg_t(arg: ddp_dnnl_arg_src(), memory: memories[0]),
                    dnnl_exec_arg_t(arg: ddp_dnnl_arg_weights(), memory: memories[1]),
                    dnnl_exec_arg_t(arg: ddp_dnnl_arg_dst(), memory: memories[2])]
        guard dnnl_primitive_execute(plan.primitive, stream, 3, &args) == dnnl_success else { return false }
        return dnnl_stream_wait(stream) == dnnl_success
    }

    static func makePlan(_ s: Shape, engine: dnnl_engine_t) -> Plan? {
        var a = dnnl_memory_desc_t(), b = dnnl_memory_desc_t(), c = dnnl_memory_desc_t()
        var aDims: [dnnl_dim_t] = [dnnl_dim_t(s.m), dnnl_dim_t(s.k)]
        var aStrides: [dnnl_dim_t] = s.transA ? [1, dnnl_dim_t(s.m)] : [dnnl_dim_t(s.k), 1]
        var bDims: [dnnl_dim_t] = [dnnl_dim_t(s.k), dnnl_dim_t(s.n)]
        var bStrides: [dnnl_dim_t] = s.transB ? [1, dnnl_dim_t(s.k)] : [dnnl_dim_t(s.n), 1]
        var cDims: [dnnl_dim_t] = [dnnl_dim_t(s.m), dnnl_dim_t(s.n)]
        var cStrides: [dnnl_dim_t] = [dnnl_dim_t(s.ldc), 1]
        guard dnnl_memory_desc_init_by_strides(&a, 2, &aDims, dnnl_bf16, &aStrides) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&b, 2, &bDims, dnnl_bf16, &bStrides) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&c, 2, &cDims, dnnl_f32, &cStrides) == dnnl_success else { return nil }
        var desc = dnnl_matmul_desc_t()
        guard dnnl_matmul_desc_init(&desc, &a, &b, nil, &c) == dnnl_success else { return nil }
        var attr: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attr) == dnnl_success else { return nil }
        defer { dnnl_primitive_attr_destroy(attr) }
        if s.alpha != 1 {
            var alpha = s.alpha
            guard dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha) == dnnl_success else { return nil }
        }
        if s.beta != 0 {
            var ops: dnnl_post_ops_t?
            guard dnnl_post_ops_create(&ops) == dnnl_success else { return nil }
            defer { dnnl_post_ops_destroy(ops) }
            guard dnnl_post_ops_append_sum(ops, s.beta) == dnnl_success,
                  dnnl_primitive_attr_set_post_ops(attr, ops) == dnnl_success else { return nil }
        }
        var descriptor: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&descriptor, &desc, attr, engine, nil) == dnnl_success else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, descriptor) == dnnl_success, let primitive else { return nil }
        return Plan(primitive: primitive, a: a, b: b, c: c)
    }

    /// One oneDNN stream per thread (streams are not shared between threads).
    enum Streams {
        private static let key: pthread_key_t = {
            var key = pthread_key_t()
            pthread_key_create(&key) { dnnl_stream_destroy(OpaquePointer($0)) }
            return key
        }()

        static func current(_ engine: dnnl_engine_t) -> dnnl_stream_t? {
            if let existing = pthread_getspecific(key) { return OpaquePointer(existing) }
            var stream: dnnl_stream_t?
            guard dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success, let stream else { return nil }
            pthread_setspecific(key, UnsafeRawPointer(stream))
            return stream
        }
    }

    /// A 24×40×56 product with every transpose, alpha and beta the kernels use, against the
    /// emulated product of the same rounded operands.
    static func agreesWithEmulation() -> Bool {
        let (m, n, k) = (24, 40, 56)
        var rng = RandomGenerator(seed: 7)
        let a = (0..<(m * k)).map { _ in Float(rng.uniform() * 2 - 1) }, b = (0..<(k * n)).map { _ in Float(rng.uniform() * 2 - 1) }
        for (transA, transB, alpha, beta) in [(false, false, Float(1), Float(0)), (true, false, 1, 1), (false, true, 0.5, 0),
                                               (true, true, 1, 0.25)] {
            var expected = [Float](repeating: 0.5, count: m * n), got = expected
            BF16GEMM.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: transA ? m : k,
                          b: b, ldb: transB ? k : n, beta: beta, c: &expected, ldc: n, backend: .emulated)
            var a16 = [UInt16](repeating: 0, count: a.count), b16 = [UInt16](repeating: 0, count: b.count)
            BFloat16.convert(a, count: a.count, into: &a16)
            BFloat16.convert(b, count: b.count, into: &b16)
            guard run(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a16, b: b16, beta: beta,
                      c: &got, ldc: n) else { return false }
            let worst = zip(expected, got).map { abs($0 - $1) }.max() ?? .infinity
            if !(worst <= 1e-4) { return false }
        }
        return true
    }
}
