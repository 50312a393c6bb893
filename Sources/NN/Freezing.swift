import Autograd

/// Error a user can cause by naming what to freeze.
public struct FreezeError: Error, CustomStringConvertible {
    public let description: String
}

extension Module {
    /// Freezes every module and parameter whose dotted name is one of `prefixes` or lies under
    /// one (`layer1` freezes `layer1.0.conv1.weight`, not `layer10`): their parameters stop
    /// requiring gradients and their modules stay in evaluation mode. Returns the frozen
    /// parameters' names; a prefix that names nothing is an error listing the top-level names.
    @discardableResult
    public func freeze(prefixes: [String]) throws -> [String] {
        func under(_ name: String, _ prefix: String) -> Bool { name == prefix || name.hasPrefix(prefix + ".") }
        let modules = namedModules().filter { !$0.name.isEmpty }
        let parameters = namedParameters()
        for prefix in prefixes where !modules.contains(where: { under($0.name, prefix) })
            && !parameters.contains(where: { under($0.name, prefix) }) {
            throw FreezeError(description: "--freeze: '\(prefix)' names no module or parameter of the model; its top-level "
                              + "modules are \(children.map(\.name).joined(separator: ", "))")
        }
        for (name, module) in modules where prefixes.contains(where: { under(name, $0) }) {
            module.isFrozen = true
            module.train(false)
        }
        var frozen: [String] = []
        for (name, tensor) in parameters where prefixes.contains(where: { under(name, $0) }) {
            tensor.requiresGrad = false
            tensor.grad = nil
            frozen.append(name)
        }
        return frozen
    }

    /// Parameters that train (those not frozen), in PyTorch's order.
    public func trainableParameters() -> [(name: String, tensor: Tensor)] {
        namedParameters().filter { $0.tensor.requiresGrad }
    }
}
