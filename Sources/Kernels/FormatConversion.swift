import CDNNL
import Foundation

/// Copies a tensor's values from one `TensorFormat` into another (plain float32 to blocked
/// bf16, say) with a oneDNN reorder made once per shape and pair of formats; every run is
/// counted with the convolutions' reorders, so `bench --profile` shows what conversions cost.
public enum FormatConversion {
    private struct Key: Hashable { var shape: [Int], from: TensorFormat, to: TensorFormat }
    nonisolated(unsafe) private static var reorders: [Key: OneDNNReorder] = [:]
    private static let lock = NSLock()

    /// oneDNN's description of a tensor of `shape` held in `format`.
    static func desc(_ shape: [Int], _ format: TensorFormat) -> dnnl_memory_desc_t? {
        switch format {
        case .plain:
            return OneDNN.plainDesc(shape, .f32)
        case .blocked(let element):
            var desc = dnnl_memory_desc_t()
            var dims = shape.map { dnnl_dim_t($0) }
            guard shape.count == 4, dnnl_memory_desc_init_by_tag(&desc, 4, &dims, element.dataType, dnnl_aBcd16b) == dnnl_success else {
                return nil
            }
            return desc
        }
    }

    /// `target` (in `to`) takes `source`'s values (in `from`); bf16 targets round to nearest even.
    public static func convert(_ shape: [Int], from: TensorFormat, _ source: UnsafeRawPointer,
                               to: TensorFormat, _ target: UnsafeMutableRawPointer) {
        precondition(from.holds(shape) && to.holds(shape), "format conversion: \(shape) from \(from) to \(to)")
        let key = Key(shape: shape, from: from, to: to)
        let reorder: OneDNNReorder? = lock.withLock {
            if let known = reorders[key] { return known }
            guard let a = desc(shape, from), let b = desc(shape, to),
                  let made = OneDNNReorder(from: a, to: b, accumulate: false) else { return nil }
            reorders[key] = made
            return made
        }
        guard let reorder, reorder.run(source, target, threads: OneDNNConvolution.threads) else {
            preconditionFailure("oneDNN could not convert a tensor of shape \(shape) from \(from) to \(to)")
        }
    }
}
