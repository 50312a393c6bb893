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

        let (order, pendingUses) = topologicalOrder(from: root.gradFunction!)
        var pending = pendingUses
        // Pending gradients of non-leaf tensors, by the operation that made them; `exclusive`
        // when no other entry or tensor shares the memory, so it may be added to or reused.
        var grads: [ObjectIdentifier: (tensor: Tensor, exclusive: Bool)] = [ObjectIdentifier(root.gradFunction!): (seed, gradient == nil)]

        for function in order.reversed() {
            guard let entry = grads.removeValue(forKey: ObjectIdentifier(function)) else {
                // Nothing flowed here; its leaves still stop waiting for this use.
                for case .leaf(let input) in function.edges { countDown(input, &pending) }
                function.release()
                continue
            }
            precondition(!function.isReleased, "backward(): \(function.name) was already differentiated; the graph is freed after one backward pass")
            let upstream = entry.tensor
            upstream.isScratchGradient = entry.exclusive
            let started = OpProfiler.isEnabled ? System.now() : 0
            let inputGrads = function.apply!(upstream)
            OpProfiler.add(function.name + " backward", since: started)
            upstream.isScratchGradient = false
            precondition(inputGrads.count == function.edges.count, "backward(): \(function.name) returned \(inputGrads.count) gradients for \(function.edges.count) inputs")
            for (index, (edge, maybeGrad)) in zip(function.edges, inputGrads).enumerated() {
                if case .none = edge { continue }
                guard let g = maybeGrad else {
                    if case .leaf(let input) = edge { countDown(input, &pending) }
                    continue
                }
                precondition(g.count == function.inputCounts[index],
                             "backward(): \(function.name) gave a gradient of shape \(g.shape) for input \(index) of \(function.inputCounts[index]) elements")
                // A gradient is exclusive unless it is handed to two inputs (a sum's backward passes
                // dy to both) or is the upstream gradient (or a view of it) that was not exclusive.
                let shared = inputGrads.lazy.filter { $0?.storage === g.storage }.count > 1
                let exclusive = !shared && (g.storage !== upstream.storage || entry.exclusive)
                switch edge {
                case .none:
                    continue
                case .leaf(let input):
                    accumulate(g, intoLeaf: input, exclusive: exclusive)
                    countDown(input, &pending)
                case .function(let producer):
                    let key = ObjectIdentifier(producer)
                    if let existing = grads[key] {
                        if existing.exclusive && existing.tensor.format == g.format {
                            existing.tensor.add(g)
                        } else if exclusive {
                            g.add(existing.tensor)
                            grads[key] = (g, true)
                        } else {
                            let sum = existing.tensor.converted(to: g.format)
                            let owned = sum === existing.tensor ? Tensor(copyingMemory: sum) : sum
                            owned.add(g)
                            grads[key] = (owned, true)
                        }
                    } else {
                        grads[key] = (g, exclusive)
                    }
                }
            }
            function.release()
        }
    }

    /// Operations reachable from `root`, each after all of its inputs (iterative depth-first
    /// walk: ResNet-152's graph is deeper than a recursive walk's stack), and for every leaf
    /// that requires a gradient, how many recorded uses it has.
    static func topologicalOrder(from root: GradFunction) -> ([GradFunction], [ObjectIdentifier: Int]) {
        var order: [GradFunction] = []
        var visited = Set<ObjectIdentifier>()
        var uses: [ObjectIdentifier: Int] = [:]
        var stack: [(function: GradFunction, next: Int)] = [(root, 0)]
        while var top = stack.popLast() {
            let function = top.function
            if top.next == 0 {
                guard visited.insert(ObjectIdentifier(function)).inserted else { continue }
                precondition(!function.isReleased, "backward(): \(function.name) was already differentiated; the graph is freed after one backward pass")
                for case .leaf(let input) in function.edges {
                    uses[ObjectIdentifier(input), default: 0] += 1
                }
            }
            if top.next < function.edges.count {
                let edge = function.edges[top.next]
                top.next += 1
                stack.append(top)
                if case .function(let child) = edge, !visited.contains(ObjectIdentifier(child)) {
                    stack.append((child, 0))
                }
            } else {
                order.append(function)
            }
        }
        return (order, uses)
    }

    /// Adds `g` into the leaf's `grad`; the first gradient of a leaf is adopted as its `grad`
    /// when nothing else holds it, copied otherwise.
    static func accumulate(_ g: Tensor, intoLeaf leaf: Tensor, exclusive: Bool = false) {
        // Leaves' gradients are plain float32 (a blocked g's plain copy is adopted only when
        // nothing else holds g).
        let g = g.plainValues
        if let existing = leaf.grad {
            ElementwiseKernel.accumulate(g.pointer, into: existing.pointer, count: g.count)
        } else if exclusive {
            leaf.grad = g.shape == leaf.shape ? g : Tensor(shape: leaf.shape, storage: g.storage)
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
