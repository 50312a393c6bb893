/// Records the operations a forward pass runs, in order, with their settings, inputs and
/// output, so that an exporter can write the same computation as a graph (tracing, as
/// `torch.onnx.export` does). Costs one check per operation when no trace is running.
public enum Tracer {
    public struct Node {
        public let op: OpKind
        public let inputs: [Tensor]
        public let output: Tensor
    }

    nonisolated(unsafe) private static var nodes: [Node]?

    @inline(__always)
    static func add(_ op: OpKind, inputs: [Tensor], output: Tensor) {
        if nodes != nil { nodes!.append(Node(op: op, inputs: inputs, output: output)) }
    }

    /// Runs `body` and returns the operations it ran. The nodes hold every tensor that
    /// flowed, so identities stay unique while the trace is read.
    public static func trace(_ body: () throws -> Tensor) rethrows -> (nodes: [Node], output: Tensor) {
        let outer = nodes
        nodes = []
        defer { nodes = outer }
        let output = try body()
        return (nodes ?? [], output)
    }

    /// Runs `body` without recording: for an operation built from others that records itself as one.
    static func untraced<T>(_ body: () -> T) -> T {
        let outer = nodes
        nodes = nil
        defer { nodes = outer }
        return body()
    }
}
