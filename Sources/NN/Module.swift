import Autograd

/// A node of the model tree: named parameters, buffers and sub-modules, registered in
/// order so that names and order match PyTorch's `state_dict` (`layer1.0.downsample.1.weight`).
open class Module {
    public private(set) var isTraining = true
    /// Frozen (`freeze(prefixes:)`): its parameters take no gradient and it stays in evaluation
    /// mode, so a frozen BatchNorm keeps its running statistics.
    public internal(set) var isFrozen = false
    public private(set) var ownParameters: [(name: String, tensor: Tensor)] = []
    public private(set) var ownBuffers: [(name: String, tensor: Tensor)] = []
    public private(set) var children: [(name: String, module: Module)] = []

    public init() {}

    /// Registers a trainable tensor; it will require gradients.
    public func registerParameter(_ name: String, _ tensor: Tensor) {
        precondition(!ownParameters.contains { $0.name == name }, "module: parameter \(name) registered twice")
        tensor.requiresGrad = true
        ownParameters.append((name, tensor))
    }

    /// Registers state that is saved with the model but not trained (`running_mean`, ...).
    public func registerBuffer(_ name: String, _ tensor: Tensor) {
        precondition(!ownBuffers.contains { $0.name == name }, "module: buffer \(name) registered twice")
        ownBuffers.append((name, tensor))
    }

    /// Registers a child; its entries are named `name.<entry>`.
    public func registerModule(_ name: String, _ module: Module) {
        precondition(!children.contains { $0.name == name }, "module: child \(name) registered twice")
        children.append((name, module))
    }

    /// Every module of the tree with its dotted name (the root is "").
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        var stack: [(String, Module)] = [(prefix, self)]
        var ordered: [(String, Module)] = []
        // Pre-order, children in registration order, without recursion.
        while let (name, module) = stack.popLast() {
            ordered.append((name, module))
            for child in module.children.reversed() {
                stack.append((name.isEmpty ? child.name : "\(name).\(child.name)", child.module))
            }
        }
        return ordered
    }

    /// Trainable tensors in PyTorch's order.
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { prefix, module in
            module.ownParameters.map { (qualified(prefix, $0.name), $0.tensor) }
        }
    }

    /// Non-trainable state in PyTorch's order.
    public func namedBuffers() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { prefix, module in
            module.ownBuffers.map { (qualified(prefix, $0.name), $0.tensor) }
        }
    }

    /// Parameters and buffers interleaved per module, exactly as `model.state_dict()` lists them.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { prefix, module in
            (module.ownParameters + module.ownBuffers).map { (qualified(prefix, $0.name), $0.tensor) }
        }
    }

    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    /// Number of trainable values.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Training mode (batch statistics) or evaluation mode (running statistics), for the whole
    /// tree; frozen modules stay in evaluation mode.
    public func train(_ on: Bool = true) {
        for (_, module) in namedModules() { module.isTraining = on && !module.isFrozen }
    }

    public func eval() { train(false) }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for p in parameters() { p.zeroGrad() }
    }
}

@inline(__always)
func qualified(_ prefix: String, _ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

/// A module that maps one tensor to one tensor.
public protocol Layer: AnyObject {
    func callAsFunction(_ x: Tensor) -> Tensor
}

public typealias LayerModule = Module & Layer
