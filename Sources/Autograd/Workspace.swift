/// Scratch memory for one kernel call, given back when the call's scope ends. It comes from
/// the storage pool: the same shapes recur every step, so a step's scratch space costs no
/// page faults once the first step has run.
final class Workspace {
    private let storage: Storage?
    var pointer: UnsafeMutablePointer<Float>? { storage?.base }
    init(count: Int) { storage = count > 0 ? Storage(count: count) : nil }
}
