import CDNNL
import Foundation

/// Matrix products through oneDNN's matmul primitive, with fp32 or bf16 operands and a
/// float32 result; oneDNN picks AVX512-BF16 or AMX kernels itself. One primitive per shape,
/// created on first use and kept, run safely from any thread (`OneDNN.Primitive`).
public enum OneDNNMatmul {
    /// oneDNN has bf16 instructions to run on here, and its product agreed with the emulated
    /// one on a small case (checked once, so a library or CPU surprise falls back instead of
    /// training on wrong numbers).
    static let isUsable: Bool = {
        guard EnvironmentSetting.bf16Backend.value?.lowercased() != "emulated", OneDNN.supports(.bf16) else { return false }
        return agreesWithEmulation()
    }()

    static var isaName: String { OneDNN.isaName }

    struct Shape: Hashable {
        var element: OneDNN.Element, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, ldc: Int, alpha: Float, beta: Float
    }

    /// A primitive and the memory descriptors it was made for.
    final class Plan: @unchecked Sendable {
        let primitive: OneDNN.Primitive
        let a: dnnl_memory_desc_t, b: dnnl_memory_desc_t, c: dnnl_memory_desc_t
        init(primitive: OneDNN.Primitive, a: dnnl_memory_desc_t, b: dnnl_memory_desc_t, c: dnnl_memory_desc_t) {
            self.primitive = primitive; self.a = a; self.b = b; self.c = c
        }
    }

    nonisolated(unsafe) private static var plans: [Shape: Plan?] = [:]
    private static let lock = NSLock()

    /// `C = alpha·op(A)·op(B) + beta·C` on dense operands of `element` (op(A) stored m×k or,
    /// transposed, k×m), C float32 with row stride `ldc`, on `threads` threads; false when
    /// oneDNN has no primitive for it.
    public static func run(_ element: OneDNN.Element, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafeRawPointer, b: UnsafeRawPointer, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                           threads: Int = BLAS.threads) -> Bool {
        let shape = Shape(element: element, transA: transA, transB: transB, m: m, n: n, k: k, ldc: ldc, alpha: alpha, beta: beta)
        guard OneDNN.engine != nil, let plan = lock.withLock({ () -> Plan? in
            if let known = plans[shape] { return known }
            let made = makePlan(shape)
            plans[shape] = made
            return made
        }) else { return false }
        return plan.primitive.execute([OneDNN.Argument(ddp_dnnl_arg_src(), plan.a, a),
                                       OneDNN.Argument(ddp_dnnl_arg_weights(), plan.b, b),
                                       OneDNN.Argument(ddp_dnnl_arg_dst(), plan.c, c)], threads: threads)
    }

    static func makePlan(_ s: Shape) -> Plan? {
        guard let engine = OneDNN.engine,
              let a = OneDNN.plainDesc([s.m, s.k], s.element, strides: s.transA ? [1, s.m] : [s.k, 1]),
              let b = OneDNN.plainDesc([s.k, s.n], s.element, strides: s.transB ? [1, s.k] : [s.n, 1]),
              let c = OneDNN.plainDesc([s.m, s.n], .f32, strides: [s.ldc, 1]) else { return nil }
        var (aDesc, bDesc, cDesc) = (a, b, c)
        var desc = dnnl_matmul_desc_t()
        guard dnnl_matmul_desc_init(&desc, &aDesc, &bDesc, nil, &cDesc) == dnnl_success,
              let attr = OneDNN.makeAttributes() else { return nil }
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
        guard dnnl_primitive_desc_create(&descriptor, &desc, attr, engine, nil) == dnnl_success, let descriptor else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        guard let primitive = OneDNN.Primitive(descriptor) else { return nil }
        return Plan(primitive: primitive, a: a, b: b, c: c)
    }

    struct BatchedShape: Hashable {
        var element: OneDNN.Element, aBatch: Int, bBatch: Int, m: Int, n: Int, k: Int, aStrides: [Int], bStrides: [Int]
    }
    nonisolated(unsafe) private static var batchedPlans: [BatchedShape: Plan?] = [:]

    /// `C[i] = A[i or 0]·B[i or 0]` for every i of the batch: A is `[aBatch, m, k]` and B
    /// `[bBatch, k, n]` with the given strides (a batch of 1 is broadcast), C a dense float32
    /// `[max(aBatch, bBatch), m, n]`; false when oneDNN has no primitive for it.
    public static func runBatched(_ element: OneDNN.Element, aBatch: Int, bBatch: Int, m: Int, n: Int, k: Int,
                                  a: UnsafeRawPointer, aStrides: [Int], b: UnsafeRawPointer, bStrides: [Int],
                                  c: UnsafeMutablePointer<Float>, threads: Int) -> Bool {
        let shape = BatchedShape(element: element, aBatch: aBatch, bBatch: bBatch, m: m, n: n, k: k, aStrides: aStrides, bStrides: bStrides)
        guard let plan = lock.withLock({ () -> Plan? in
            if let known = batchedPlans[shape] { return known }
            let made = makeBatchedPlan(shape)
            batchedPlans[shape] = made
            return made
        }) else { return false }
        return plan.primitive.execute([OneDNN.Argument(ddp_dnnl_arg_src(), plan.a, a),
                                       OneDNN.Argument(ddp_dnnl_arg_weights(), plan.b, b),
                                       OneDNN.Argument(ddp_dnnl_arg_dst(), plan.c, c)], threads: threads)
    }

    static func makeBatchedPlan(_ s: BatchedShape) -> Plan? {
        let batch = max(s.aBatch, s.bBatch)
        guard let engine = OneDNN.engine,
              let a = OneDNN.plainDesc([s.aBatch, s.m, s.k], s.element, strides: s.aStrides),
              let b = OneDNN.plainDesc([s.bBatch, s.k, s.n], s.element, strides: s.bStrides),
              let c = OneDNN.plainDesc([batch, s.m, s.n], .f32) else { return nil }
        var (aDesc, bDesc, cDesc) = (a, b, c)
        var desc = dnnl_matmul_desc_t()
        guard dnnl_matmul_desc_init(&desc, &aDesc, &bDesc, nil, &cDesc) == dnnl_success,
              let attr = OneDNN.makeAttributes() else { return nil }
        defer { dnnl_primitive_attr_destroy(attr) }
        var descriptor: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&descriptor, &desc, attr, engine, nil) == dnnl_success, let descriptor else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        guard let primitive = OneDNN.Primitive(descriptor) else { return nil }
        return Plan(primitive: primitive, a: a, b: b, c: c)
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
            guard run(.bf16, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a16, b: b16, beta: beta,
                      c: &got, ldc: n) else { return false }
            let worst = zip(expected, got).map { abs($0 - $1) }.max() ?? .infinity
            if !(worst <= 1e-4) { return false }
        }
        return true
    }
}
