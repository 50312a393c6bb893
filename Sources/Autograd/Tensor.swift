import Kernels

/// A tensor that can take part in reverse-mode differentiation: dense row-major float32
/// (`TensorFormat.plain`), or, for activations under bf16-mixed, oneDNN's blocked layout in
/// bf16 (`format`), which the residual network's operations read and write as they are.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    /// How the values sit in `storage`; `plain` unless an operation chose otherwise.
    public let format: TensorFormat
    /// Shared with views made by `reshaped`; optimizers update parameters through it in place.
    public let storage: Storage
    /// Leaves with `requiresGrad` collect gradients in `grad` during `backward()`.
    public var requiresGrad: Bool
    /// Accumulates over backward passes until `zeroGrad()` (or the optimizer) clears it.
    public var grad: Tensor?
    /// Set when `grad` is memory its owner keeps for good (the data-parallel layer's bucket):
    /// `zeroGrad()` fills it with zeros instead of dropping it, and operations whose kernels
    /// add into a weight gradient write straight into it, so a step allocates and copies none.
    public var keepsGradStorage = false
    /// The operation that made this tensor; nil for leaves.
    public internal(set) var gradFunction: GradFunction?
    /// Called when this leaf's gradient for the current backward pass is complete: the
    /// data-parallel layer launches its all-reduce from here while backward goes on.
    public var onGradReady: ((Tensor) -> Void)?
    /// Set by the backward pass on an upstream gradient nobody else holds: the operation may
    /// write its input's gradient over it (`gradientBuffer`) instead of allocating.
    var isScratchGradient = false

    /// The plain float32 copy of a tensor held in another format, made when something first
    /// asks for `pointer` (an operation without a kernel for that format).
    private var plainCopy: Tensor?

    /// A tensor whose values the caller must write before reading.
    public init(uninitialized shape: [Int], format: TensorFormat = .plain) {
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor: negative extent in shape \(shape)")
        precondition(format.holds(shape), "tensor: shape \(shape) cannot be held as \(format)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.format = format
        self.storage = Storage(count: format.storageFloats(count))
        self.requiresGrad = false
    }

    /// A view of `storage` with another shape of the same size (and the same format).
    public init(shape: [Int], storage: Storage, format: TensorFormat = .plain) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.format = format
        self.storage = storage
        self.requiresGrad = false
    }

    public convenience init(zeros shape: [Int]) {
        self.init(filling: shape, with: 0)
    }

    public convenience init(filling shape: [Int], with value: Float) {
        self.init(uninitialized: shape)
        pointer.update(repeating: value, count: count)
    }

    public convenience init(shape: [Int], data: [Float]) {
        self.init(uninitialized: shape)
        precondition(data.count == count, "tensor: \(data.count) values for shape \(shape)")
        data.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    public convenience init(scalar: Float) { self.init(shape: [], data: [scalar]) }

    /// Independent copy of the values, detached from any graph.
    public convenience init(copying other: Tensor) {
        self.init(uninitialized: other.shape)
        pointer.update(from: other.pointer, count: count)
    }

    /// Normal(mean, std) values from `generator`.
    public static func randn(_ shape: [Int], mean: Float = 0, std: Float = 1,
                             using generator: inout RandomGenerator) -> Tensor {
        let t = Tensor(uninitialized: shape)
        var i = 0
        while i < t.count {  // Box–Muller gives two values per draw
            let (a, b) = generator.normalPair()
            t.pointer[i] = mean + std * Float(a)
            if i + 1 < t.count { t.pointer[i + 1] = mean + std * Float(b) }
            i += 2
        }
        return t
    }

    /// Uniform values in [low, high) from `generator`.
    public static func uniform(_ shape: [Int], low: Float, high: Float,
                               using generator: inout RandomGenerator) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.pointer[i] = low + (high - low) * Float(generator.uniform()) }
        return t
    }

    /// The values as dense row-major float32. For a tensor held in another format this is a
    /// converted copy, made on first use and kept with the tensor: reading through it is right,
    /// writing through it changes nothing (operations that write such tensors use `rawPointer`).
    public var pointer: UnsafeMutablePointer<Float> { plainValues.storage.base }

    /// `self` when plain, else its kept plain float32 copy (made on first use).
    public var plainValues: Tensor {
        if format == .plain { return self }
        if let plainCopy { return plainCopy }
        let copy = converted(to: .plain)
        plainCopy = copy
        return copy
    }

    /// The memory as it is, in `format`.
    public var rawPointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(storage.base) }

    /// These values in `target` format, outside any graph: `self` when it is held so already,
    /// else new memory the caller owns (never the kept plain copy, which others may read).
    public func converted(to target: TensorFormat) -> Tensor {
        if target == format { return self }
        let out = Tensor(uninitialized: shape, format: target)
        FormatConversion.convert(shape, from: format, UnsafeRawPointer(rawPointer), to: target, out.rawPointer)
        return out
    }

    /// A copy of the memory in the same format, detached from any graph.
    convenience init(copyingMemory other: Tensor) {
        self.init(uninitialized: other.shape, format: other.format)
        rawPointer.copyMemory(from: other.rawPointer, byteCount: other.format.storageFloats(other.count) * MemoryLayout<Float>.stride)
    }

    /// `self += other` element by element, in `self`'s format (`other` converted to it first).
    func add(_ other: Tensor) {
        precondition(other.count == count, "add: \(other.shape) into \(shape)")
        let source = other.converted(to: format)
        switch format {
        case .plain: ElementwiseKernel.accumulate(source.pointer, into: storage.base, count: count)
        case .blocked(let element):
            BlockedElementwiseKernel.accumulate(element, UnsafeRawPointer(source.rawPointer), into: rawPointer, count: count)
        }
        withExtendedLifetime(source) { valuesChanged() }
    }

    /// Drops the plain copy after the values were changed in place (a gradient added into).
    func valuesChanged() { plainCopy = nil }
    public var rank: Int { shape.count }


    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// The value of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item(): tensor of shape \(shape) has \(count) elements, not 1")
        return pointer[0]
    }

    /// Overwrites the values with `source`'s (same number of elements), outside any graph.
    public func copyValues(from source: Tensor) {
        precondition(source.count == count, "copy: \(source.shape) into \(shape)")
        precondition(format == .plain, "copy: into a tensor held as \(format)")
        withExtendedLifetime(source) { pointer.update(from: source.pointer, count: count) }
    }

    /// Where an operation's backward writes an input gradient of `shape` (this tensor's size)
    /// in `format`: over this upstream gradient when the engine says nobody else holds it and it
    /// is held in that format, else new memory.
    func gradientBuffer(_ shape: [Int], format: TensorFormat = .plain) -> Tensor {
        isScratchGradient && format == self.format ? Tensor(shape: shape, storage: storage, format: format)
            : Tensor(uninitialized: shape, format: format)
    }

    /// The same values, cut off from the graph.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage, format: format) }

    /// Sets `grad` to nil (PyTorch's `zero_grad(set_to_none=True)`), or to zeros when the
    /// memory is kept (`keepsGradStorage`).
    public func zeroGrad() {
        guard keepsGradStorage, let grad else { self.grad = nil; return }
        ElementwiseKernel.zero(grad.pointer, count: grad.count)
    }

    /// This leaf's kept gradient, which a backward whose kernel adds into a gradient may write
    /// straight into; nil when the gradient takes the engine's usual path.
    var gradientAccumulator: Tensor? {
        guard keepsGradStorage, requiresGrad, gradFunction == nil, let grad, grad.shape == shape else { return nil }
        return grad
    }

    /// Where a backward whose kernel *adds* into this input's gradient has it write: the leaf's
    /// kept gradient itself, else new zeros; nil when the input needs no gradient.
    func additiveGradientTarget() -> Tensor? {
        gradientAccumulator ?? (requiresGrad ? Tensor(zeros: shape) : nil)
    }

    /// What that backward returns to the engine for this input: nothing when the kernel already
    /// added into the leaf's kept gradient (the engine must not add it again).
    func gradientToReturn(_ target: Tensor?) -> Tensor? {
        guard let target, target === gradientAccumulator else { return target }
        return nil
    }

    /// Reverse-mode differentiation from this scalar (or with an explicit upstream `gradient`).
    public func backward(_ gradient: Tensor? = nil) { Autograd.backward(self, gradient: gradient) }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = toArray().prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(values)\(count > 8 ? ", ..." : "")])"
    }
}
