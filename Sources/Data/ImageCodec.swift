import CPNG
import CTurboJPEG
import Foundation

/// An 8-bit image, interleaved (HWC) as decoders produce it.
public struct DecodedImage: Sendable {
    public var width: Int, height: Int, channels: Int
    public var pixels: [UInt8]
    /// False when the file stored one grey channel (its decoded channels are then equal).
    public var isColour: Bool
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8], isColour: Bool = true) {
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels; self.isColour = isColour
    }
}

/// JPEG through libjpeg-turbo, PNG through libpng; always decoded to RGB.
public enum ImageCodec {
    public static func decode(file path: String) throws -> DecodedImage {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(path, "cannot read the file") }
        let bytes = [UInt8](data)
        if bytes.starts(with: [0xFF, 0xD8]) { return try decodeJPEG(bytes, path: path) }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try decodePNG(bytes, path: path) }
        throw DataError(path, "not a JPEG or PNG file")
    }

    static func decodeJPEG(_ bytes: [UInt8], path: String) throws -> DecodedImage {
        guard let handle = tjInitDecompress() else { throw DataError(path, "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        var input = bytes
        guard tjDecompressHeader3(handle, &input, UInt(input.count), &width, &height, &subsampling, &colorspace) == 0,
              width > 0, height > 0 else {
            throw DataError(path, "JPEG header does not decode: \(String(cString: tjGetErrorStr2(handle)))")
        }
        // libjpeg-turbo converts CMYK and YCCK JPEGs only to CMYK; RGB is ours (`rgb(fromAdobeCMYK:)`).
        let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let channels = isCMYK ? 4 : 3
        let format = isCMYK ? TJPF_CMYK : TJPF_RGB
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
        let status = pixels.withUnsafeMutableBufferPointer { out in
            tjDecompress2(handle, &input, UInt(input.count), out.baseAddress, width, 0, height, Int32(format.rawValue), 0)
        }
        guard status == 0 else { throw DataError(path, "JPEG does not decode: \(String(cString: tjGetErrorStr2(handle)))") }
        if isCMYK { pixels = rgb(fromAdobeCMYK: pixels) }
        return DecodedImage(width: Int(width), height: Int(height), channels: 3, pixels: pixels,
                            isColour: colorspace != Int32(TJCS_GRAY.rawValue))
    }

    /// CMYK as stored in JPEGs (Adobe's convention, which Photoshop writes and PIL assumes for
    /// every CMYK JPEG: 255 means no ink) to RGB as PIL converts it: each channel is
    /// (1 − ink)·(1 − black), i.e. stored·storedBlack / 255, rounded as PIL's MULDIV255.
    static func rgb(fromAdobeCMYK cmyk: [UInt8]) -> [UInt8] {
        let count = cmyk.count / 4
        var rgb = [UInt8](repeating: 0, count: count * 3)
        cmyk.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    let notBlack = Int(src[4 * i + 3])  // stored as 255 − black
                    for c in 0..<3 {
                        let ink = 255 - Int(src[4 * i + c])
                        let product = ink * notBlack + 128
                        dst[3 * i + c] = UInt8(notBlack - ((product >> 8) + product) >> 8)
                    }
                }
            }
        }
        return rgb
    }

    static func decodePNG(_ bytes: [UInt8], path: String) throws -> DecodedImage {
        var image = png_image()
        image.version = ddp_png_image_version()
        defer { png_image_free(&image) }
        guard bytes.withUnsafeBytes({ png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }) != 0 else {
            throw DataError(path, "PNG header does not decode: \(pngMessage(&image))")
        }
        // As PIL's convert("RGB"): alpha is dropped, not composited, and 16-bit samples keep their
        // high byte. libpng's simplified reader would composite alpha onto black and treat 16-bit
        // samples as linear light, so both are read as they are stored and reduced here.
        let hasAlpha = image.format & ddp_png_flag_alpha() != 0
        let sixteenBit = image.format & ddp_png_flag_linear() != 0
        let isColour = image.format & ddp_png_flag_colour() != 0
        image.format = (hasAlpha ? ddp_png_format_rgba() : ddp_png_format_rgb()) | (sixteenBit ? ddp_png_flag_linear() : 0)
        let (width, height) = (Int(image.width), Int(image.height))
        let channels = hasAlpha ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        if sixteenBit {
            var wide = [UInt16](repeating: 0, count: width * height * channels)
            let ok = wide.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
            guard ok != 0 else { throw DataError(path, "PNG does not decode: \(pngMessage(&image))") }
            for i in 0..<(width * height) {
                // Linear formats come with premultiplied alpha: undo it before taking the high byte.
                let alpha = hasAlpha ? Int(wide[i * 4 + 3]) : 65535
                for c in 0..<3 {
                    let value = Int(wide[i * channels + c])
                    let straight = alpha == 65535 ? value : alpha == 0 ? 0 : min(65535, (value * 65535 + alpha / 2) / alpha)
                    pixels[i * 3 + c] = UInt8(straight >> 8)
                }
            }
        } else {
            var stored = [UInt8](repeating: 0, count: width * height * channels)
            let ok = stored.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
            guard ok != 0 else { throw DataError(path, "PNG does not decode: \(pngMessage(&image))") }
            if hasAlpha {
                for i in 0..<(width * height) { for c in 0..<3 { pixels[i * 3 + c] = stored[i * 4 + c] } }
            } else {
                pixels = stored
            }
        }
        return DecodedImage(width: width, height: height, channels: 3, pixels: pixels, isColour: isColour)
    }

    static func pngMessage(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Writes an RGB, gray or CMYK (stored as YCCK, Adobe's convention) image as JPEG; used for
    /// test data and sample dumps.
    public static func encodeJPEG(_ image: DecodedImage, quality: Int32 = 95) throws -> [UInt8] {
        guard let handle = tjInitCompress() else { throw DataError("cannot start the JPEG encoder") }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let format = image.channels == 1 ? TJPF_GRAY : image.channels == 4 ? TJPF_CMYK : TJPF_RGB
        let sampling = image.channels == 1 ? TJSAMP_GRAY : TJSAMP_444
        let status = image.pixels.withUnsafeBufferPointer { input in
            tjCompress2(handle, input.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(format.rawValue),
                        &output, &size, Int32(sampling.rawValue), quality, 0)
        }
        defer { tjFree(output) }
        guard status == 0, let output else { throw DataError("JPEG encoding failed: \(String(cString: tjGetErrorStr2(handle)))") }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    /// Writes an RGB (or gray) image as PNG.
    public static func encodePNG(_ image: DecodedImage) throws -> [UInt8] {
        var png = png_image()
        png.version = ddp_png_image_version()
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.channels == 1 ? ddp_png_format_gray() : ddp_png_format_rgb()
        var size: Int = 0
        let probe = image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard probe != 0 else { throw DataError("PNG encoding failed: \(pngMessage(&png))") }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard ok != 0 else { throw DataError("PNG encoding failed: \(pngMessage(&png))") }
        return Array(out.prefix(size))
    }
}
