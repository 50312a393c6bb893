import Foundation

/// Requeues the Slurm batch job this process runs in (`scontrol requeue`), as Lightning's
/// auto-requeue does: the job keeps its id, waits in the queue, and its next run resumes from
/// the checkpoint just written (`launch/slurm.sbatch` passes `--resume auto`).
public enum SlurmRequeue {
    /// The id `scontrol` knows this job by (`ARRAYID_TASKID` for an array task), nil outside Slurm.
    public static func jobID(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let array = environment["SLURM_ARRAY_JOB_ID"], let task = environment["SLURM_ARRAY_TASK_ID"] { return "\(array)_\(task)" }
        return environment["SLURM_JOB_ID"]
    }

    /// Runs `scontrol requeue JOB`; returns what went wrong, nil on success.
    public static func requeue(job: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["scontrol", "requeue", job]
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch { return "cannot run scontrol: \(error)" }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            return "scontrol requeue \(job) exited with \(process.terminationStatus): \(message.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        return nil
    }
}
