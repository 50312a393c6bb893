# Sourced by the launch scripts: the environment every ddptrain process wants.
#
# OpenBLAS 0.3.21 takes AVX-512 CPUs it does not know (recent Xeons, Zen 4) for an older
# core and runs sgemm up to 4x slower. The kernel family is chosen when the library loads,
# so it must be in the environment first. `ddptrain` fixes this itself by re-executing;
# test binaries cannot, so the scripts set it here.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo 2>/dev/null \
   && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SkylakeX
fi
# mpirun as root (containers, CI) needs both of these.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# Idle OpenBLAS threads spin briefly instead of busy-waiting against the kernels' own threads
# (ddptrain sets this itself when it is missing; test binaries cannot).
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
# oneDNN's OpenMP threads sleep between primitives instead of spinning against ddptrain's own
# kernel threads (ddptrain sets this itself when it is missing).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
