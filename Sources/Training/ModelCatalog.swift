import Models
import NN

/// The models `ddptrain models` lists: each registry entry built once without random values,
/// with its parameter count and one image's forward GFLOPs at its default input.
public struct ModelCatalogEntry: Encodable, Sendable {
    public let name: String
    public let parameters: Int
    public let gflops: Double
    public let input: [Int]
    public let classes: Int
    public let summary: String

    public static var all: [ModelCatalogEntry] {
        ModelRegistry.entries.map { entry in
            let model = Initializers.withoutRandomValues { entry.build() }
            return ModelCatalogEntry(name: entry.name, parameters: model.parameterCount,
                                     gflops: (entry.forwardFLOPs(model: model) / 1e7).rounded() / 100,
                                     input: Array(entry.inputShape(batch: 1).dropFirst()), classes: entry.defaultClasses,
                                     summary: entry.summary)
        }
    }
}
