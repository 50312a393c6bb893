import CDNNL
import Foundation

/// A oneDNN reorder between two layouts or element types of one tensor (our plain float32
/// NCHW and a primitive's blocked bf16, say), optionally adding into its destination; one
/// multi-threaded pass. Every run is counted, so `--profile` can say what reordering costs.
final class OneDNNReorder: @unchecked Sendable {
    let primitive: OneDNN.Primitive
    let from: dnnl_memory_desc_t, to: dnnl_memory_desc_t

    init?(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t, accumulate: Bool) {
        guard let engine = OneDNN.engine, let attr = OneDNN.makeAttributes() else { return nil }
        defer { dnnl_primitive_attr_destroy(attr) }
        if accumulate {
            var ops: dnnl_post_ops_t?
            guard dnnl_post_ops_create(&ops) == dnnl_success else { return nil }
            defer { dnnl_post_ops_destroy(ops) }
            guard dnnl_post_ops_append_sum(ops, 1) == dnnl_success,
                  dnnl_primitive_attr_set_post_ops(attr, ops) == dnnl_success else { return nil }
        }
        var (source, target) = (from, to)
        var descriptor: dnnl_primitive_desc_t?
        guard dnnl_reorder_primitive_desc_create(&descriptor, &source, engine, &target, engine, attr) == dnnl_success,
              let descriptor else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        guard let primitive = OneDNN.Primitive(descriptor) else { return nil }
        self.primitive = primitive
        self.from = from
        self.to = to
    }

    func run(_ source: UnsafeRawPointer, _ target: UnsafeMutableRawPointer, threads: Int) -> Bool {
        let start = System.now()
        defer { OneDNNStatistics.addReorder(bytes: OneDNN.bytes(to), seconds: System.now() - start) }
        return primitive.execute([OneDNN.Argument(ddp_dnnl_arg_from(), from, source),
                                  OneDNN.Argument(ddp_dnnl_arg_to(), to, target)], threads: threads)
    }
}

/// What the oneDNN path spent on reorders since the last reset (`bench --profile` reports it).
public enum OneDNNStatistics {
    nonisolated(unsafe) private static var totals = (count: 0, bytes: 0, seconds: 0.0)
    private static let lock = NSLock()

    static func addReorder(bytes: Int, seconds: Double) {
        lock.withLock { totals = (totals.count + 1, totals.bytes + bytes, totals.seconds + seconds) }
    }

    /// Reorders run, bytes they wrote, and seconds they took.
    public static var reorders: (count: Int, bytes: Int, seconds: Double) { lock.withLock { totals } }

    public static func reset() { lock.withLock { totals = (0, 0, 0) } }
}
