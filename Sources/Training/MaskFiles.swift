import Data
import Foundation

/// What `ddptrain predict` writes for a segmentation model: per image, the mask as a PNG whose
/// pixel values are class indices, and optionally the mask's classes drawn over the image the
/// model saw.
extension Predictor {
    /// Writes `<image name>_mask.png` (and `<image name>_overlay.png` with `overlay`) into
    /// `folder` for the image `file`; returns their paths.
    public func write(_ mask: Mask, of file: String, into folder: String, overlay: Bool) throws -> (mask: String, overlay: String?) {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        let maskPath = "\(folder)/\(stem)_mask.png"
        try Data(try ImageCodec.encodePNG(mask.image)).write(to: URL(fileURLWithPath: maskPath))
        guard overlay else { return (maskPath, nil) }
        let view = spec.preprocessing.view(of: try ImageCodec.decode(file: file))
        let overlayPath = "\(folder)/\(stem)_overlay.png"
        try Data(try ImageCodec.encodePNG(SegmentationOverlay.render(view: view, mask: mask.image)))
            .write(to: URL(fileURLWithPath: overlayPath))
        return (maskPath, overlayPath)
    }
}
