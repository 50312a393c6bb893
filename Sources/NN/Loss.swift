import Autograd

/// `nn.CrossEntropyLoss(label_smoothing=ε)`, mean reduction, `ignore_index` −100 (any negative label).
public struct CrossEntropyLoss: Sendable {
    public var labelSmoothing: Float
    public init(labelSmoothing: Float = 0) { self.labelSmoothing = labelSmoothing }

    public func callAsFunction(_ logits: Tensor, _ labels: [Int32]) -> Tensor {
        crossEntropy(logits, labels: labels, labelSmoothing: labelSmoothing)
    }
}
