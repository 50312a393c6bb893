import Foundation
import NN

/// The checkpoint folder: atomic writes, verification on load, the newest valid one, and
/// keeping the last K plus the best.
public final class CheckpointStore {
    public let directory: String
    public let keep: Int

    public init(directory: String, keep: Int) {
        self.directory = directory
        self.keep = keep
    }

    public static func fileName(step: Int) -> String { String(format: "step-%09d.safetensors", step) }
    public var bestPath: String { "\(directory)/best.safetensors" }

    /// Checks the folder can be written before training starts (a run should not find out at its first save).
    public func prepare() throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw TrainingError("\(directory): cannot create the checkpoint folder (\(error.localizedDescription))")
        }
        let probe = "\(directory)/.write-test-\(getpid())"
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw TrainingError("\(directory): the checkpoint folder is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
    }

    /// Step files, newest first.
    public func checkpoints() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".safetensors") }.sorted(by: >).map { "\(directory)/\($0)" }
    }

    /// Writes `bytes` as the checkpoint of `step` (and as the best one when `isBest`), then
    /// prunes all but the last `keep`. A crash at any point leaves the earlier files intact.
    @discardableResult
    public func save(_ bytes: [UInt8], step: Int, isBest: Bool) throws -> String {
        let path = "\(directory)/\(Self.fileName(step: step))"
        try Self.atomicWrite(bytes, to: path)
        if isBest { try Self.atomicWrite(bytes, to: bestPath) }
        for old in checkpoints().dropFirst(keep) { try? FileManager.default.removeItem(atPath: old) }
        // Leftovers of writers that died mid-write.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(".tmp-") {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
        return path
    }

    /// The newest checkpoint that verifies; each one that does not is reported to `skipped`.
    public func latestValid(skipped: (String, Error) -> Void = { _, _ in }) -> (path: String, checkpoint: Checkpoint)? {
        for path in checkpoints() {
            do { return (path, try Checkpoint.load(path)) } catch { skipped(path, error) }
        }
        return nil
    }

    /// Writes through `AtomicFile`, with the checkpoint's wording for what went wrong.
    static func atomicWrite(_ bytes: [UInt8], to path: String) throws {
        do { try AtomicFile.write(bytes, to: path) } catch {
            throw TrainingError("\(error); earlier checkpoints are untouched")
        }
    }
}
