#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about the machine this rank runs on.
public enum System {
    /// Online logical cores.
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Value of an environment variable, if set.
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// CPU feature flags as Linux reports them in /proc/cpuinfo (empty elsewhere).
    public static func cpuFlags() -> Set<String> {
        guard let line = firstLine(of: "/proc/cpuinfo", startingWith: "flags") else { return [] }
        let parts = line.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { return [] }
        return Set(parts[1].split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    /// Peak resident set size of this process in bytes (Linux: VmHWM).
    public static func peakResidentBytes() -> Int {
        guard let line = firstLine(of: "/proc/self/status", startingWith: "VmHWM:") else { return 0 }
        return (Int(line.filter(\.isNumber)) ?? 0) * 1024
    }

    /// The first line of a text file that starts with `prefix` (for /proc files).
    static func firstLine(of path: String, startingWith prefix: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            if text.hasPrefix(prefix) { return text }
        }
        return nil
    }

    /// Writes a line to standard error (unbuffered, safe from any thread).
    public static func printError(_ message: String) {
        let line = message.hasSuffix("\n") ? message : message + "\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// Flushes every C stdio stream (before an abort).
    public static func flushOutput() { fflush(nil) }

    /// Monotonic clock in seconds.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
