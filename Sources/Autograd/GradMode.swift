/// Whether operations record themselves for backward. Evaluation runs inside
/// `withNoGrad`, which saves both the graph and the intermediates it would keep.
public enum GradMode {
    nonisolated(unsafe) public private(set) static var isEnabled = true

    public static func set(_ enabled: Bool) { isEnabled = enabled }
}

/// Runs `body` without recording a graph (PyTorch's `torch.no_grad()`).
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    let previous = GradMode.isEnabled
    GradMode.set(false)
    defer { GradMode.set(previous) }
    return try body()
}
