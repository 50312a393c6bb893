import Distributed
import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// Checks ddptrain's multi-rank behaviour under `mpirun -n N` (run by launch/test): the
/// collectives, then data-parallel training. Every rank checks; rank 0 prints
/// "N passed, M failed" over all ranks; the exit code is non-zero on any failure.
let comm: MPICommunicator
do { comm = try MPICommunicator() } catch {
    System.printError("mpi-check: \(error)")
    exit(2)
}
ThreadConfiguration.apply(threads: ThreadConfiguration.defaultThreads(localRanks: comm.localSize))
nonisolated(unsafe) var failures: [String] = []
nonisolated(unsafe) var passed = 0
func check(_ ok: Bool, _ what: String) {
    if ok { passed += 1 } else { failures.append("rank \(comm.rank): \(what)") }
}

let sections = CommandLine.arguments.dropFirst().isEmpty ? ["collectives", "ddp"] : Array(CommandLine.arguments.dropFirst())
if sections.contains("collectives") { checkCollectives(comm, check) }
if sections.contains("ddp") {
    do { try checkDataParallel(comm, check) } catch { check(false, "data-parallel checks threw: \(error)") }
    do { try checkPowerSGD(comm, check) } catch { check(false, "PowerSGD checks threw: \(error)") }
    do { try checkMixedPrecision(comm, check) } catch { check(false, "bf16-mixed checks threw: \(error)") }
}
comm.barrier()

var counts = [Double(passed), Double(failures.count)]
comm.allReduceSum(&counts)
for failure in failures { System.printError("mpi-check: \(failure)") }
if comm.rank == 0 { print("mpi-check: \(Int(counts[0])) passed, \(Int(counts[1])) failed") }
comm.finalize()
exit(counts[1] == 0 ? 0 : 1)
