import Kernels

public enum Autograd {
    /// Runs reverse-mode differentiation from `root`. Leaves that require gradients
    /// accumulate into `grad`; each leaf's `onGradReady` fires as soon as no remaining
    /// operation can add to it. The graph is consumed: every saved intermediate is released
    /// right after its backward has run.
    public static func backward(_ root: Tensor, gradient: Tensor? = nil) {
        precondition(root.requiresGrad, "backward(): the tensor does not require grad and has no graph")
        if let gradient {
            precondition(gradient.shape == root.shape, "backward(): gradient shape \(gradient.shape) for tensor \(root.shape)")
        } else {
            precondition(root.count == 1, "backward(): implicit gradient needs a scalar, got shape \(root.shape)")
        }
        let seed = gradient ?? Tensor(filling: root.shape, with: 1)
        guard root.gradFunction != nil else {
            accumulate(seed, intoLeaf: root)
            root.onGradReady?(root)
            return
        }

        let (order, pendingUses) = topologicalOrder(from: root)
        var pending = pendingUses
        var grads: [ObjectIdentifier: (tensor: Tensor, owned: Bool)] = [ObjectIdentifier(root): (seed, gradient == nil)]

        for node in order.reversed() {
            let function = node.gradFunction!
            guard let upstream = grads.removeValue(forKey: ObjectIdentifier(node))?.tensor else {
                // Nothing flowed here; its leaves still stop waiting for this use.
                for input in function.inputs where input.isLeaf && input.requiresGrad { countDown(input, &pending) }
                function.release()
                continue
            }
            precondition(!function.isReleased, "backward(): \(function.name) was already differentiated; the graph is freed after one backward pass")
            let started = OpProfiler.isEnabled ? System.now() : 0
            let inputGrads = function.apply!(upstream)
            OpProfiler.add(function.name + " backward", since: started)
            precondition(inputGrads.count == function.inputs.count, "backward(): \(function.name) returned \(inputGrads.count) gradients for \(function.inputs.count) inputs")
            for (input, maybeGrad) in zip(function.inputs, inputGrads) {
                guard input.requiresGrad, let g = maybeGrad else {
                    if input.requiresGrad, input.isLeaf { countDown(input, &pending) }
                    continue
                }
                precondition(g.shape == input.shape || g.count == input.count,
                             "backward(): \(function.name) gave a gradient of shape \(g.shape) for an input of shape \(input.shape)")
                if input.isLeaf {
                    accumulate(g, intoLeaf: input)
                    countDown(input, &pending)
                } else {
                    let key = ObjectIdentifier(input)
                    if let existing = grads[key] {
                        if existing.owned {
                            ElementwiseKernel.accumulate(g.pointer, into: existing.tensor.pointer, count: g.count)
                        } else {
                            let sum = Tensor(uninitialized: input.shape)
                            sum.pointer.update(from: existing.tensor.pointer, count: sum.count)
                            ElementwiseKernel.accumulate(g.pointer, into: sum.pointer, count: sum.count)
                            grads[key] = (sum, true)
                        }
                    } else {
                        grads[key] = (g, false)
                    }
                }
            }
            function.release()
        }
    }

    /// Operations reachable from `root`, each after all of its inputs (iterative depth-first
    /// walk: ResNet-152's graph is deeper than a recursive walk's stack), and for every leaf
    /// that requires a gradient, how many recorded uses it has.
    static func topologicalOrder(from root: Tensor) -> ([Tensor], [ObjectIdentifier: Int]) {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var uses: [ObjectIdentifier: Int] = [:]
        var stack: [(tensor: Tensor, next: Int)] = [(root, 0)]
        while var top = stack.popLast() {
            guard let function = top.tensor.gradFunction else { continue }
            if top.next == 0 {
                guard visited.insert(ObjectIdentifier(top.tensor)).inserted else { continue }
                precondition(!function.isReleased, "backward(): \(function.name) was already differentiated; the graph is freed after one backward pass")
                for input in function.inputs where input.isLeaf && input.requiresGrad {
                    uses[ObjectIdentifier(input), default: 0] += 1
                }
            }
            if top.next < function.inputs.count {
                let child = function.inputs[top.next]
                top.next += 1
                stack.append(top)
                if child.gradFunction != nil && !visited.contains(ObjectIdentifier(child)) {
                    stack.append((child, 0))
                }
            } else {
                order.append(top.tensor)
            }
        }
        return (order, uses)
    }

    static func accumulate(_ g: Tensor, intoLeaf leaf: Tensor) {
        if let existing = leaf.grad {
            ElementwiseKernel.accumulate(g.pointer, into: existing.pointer, count: g.count)
        } else {
            let copy = Tensor(uninitialized: leaf.shape)
            copy.pointer.update(from: g.pointer, count: copy.count)
            leaf.grad = copy
        }
    }

    static func countDown(_ leaf: Tensor, _ pending: inout [ObjectIdentifier: Int]) {
        let key = ObjectIdentifier(leaf)
        guard let left = pending[key] else { return }
        if left <= 1 {
            pending.removeValue(forKey: key)
            leaf.onGradReady?(leaf)
        } else {
            pending[key] = left - 1
        }
    }
}
