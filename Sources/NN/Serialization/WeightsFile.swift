import Autograd

/// A file of named weights as users bring them: PyTorch's own `.pth`/`.pt` (`torch.save`'s
/// zip format, read without running its pickle) or safetensors, told apart by their bytes.
public enum WeightsFile {
    public static func read(_ path: String) throws -> [(name: String, tensor: Tensor)] {
        if TorchCheckpoint.isTorchFile(path) { return try TorchCheckpoint.read(path) }
        return try SafeTensors.read(contentsOf: path).entries.map { ($0.name, $0.tensor) }
    }
}
