#!/usr/bin/env bash
# Under a real one-node Slurm (launch/slurm-local), the path of launch/slurm.sbatch: a job whose
# time limit is shorter than its training gets SIGUSR1 before the limit, every rank finishes its
# step, rank 0 saves and requeues the job, the next run (same job id) resumes with --resume auto,
# and the job completes. Prints "integration: N passed, M failed". Run from the project root
# after a release build.
set -uo pipefail
work=$(mktemp -d)
passed=0; failed=0
ok()   { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
job=""
cleanup() {
  [ -n "$job" ] && scancel "$job" 2>/dev/null
  bash launch/slurm-local stop "$work/slurm"
  rm -rf "$work"
}
trap cleanup EXIT

if ! setup=$(bash launch/slurm-local start "$work/slurm"); then
  fail "a one-node Slurm starts"; echo "integration: $passed passed, $failed failed"; exit 1
fi
eval "$setup"
ok "a one-node Slurm starts ($SLURM_CONF)"

cp Tests/Integration/small.yaml "$work/small.yaml"
cat >> "$work/small.yaml" <<'YAML'
synthetic_count: 800
epochs: 30
checkpoint_every: 250
log_every: 100
YAML

# A three-minute limit whose warning is asked for 90 s before it: Slurm sends it up to a minute
# early, so the first run is signalled 30-90 s in. The run must outlast that on the fastest CPU:
# 1000 steps took about two minutes on a Zen 3 but 75 s on a Zen 5, which finished before the
# signal; 2000 steps take about 150 s there (the requeued part gets ten minutes).
steps=2000
job=$(sbatch --parsable --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=3 --signal=USR1@90 \
  --output="$work/job.out" launch/slurm.sbatch resnet18 --config "$work/small.yaml" \
  --checkpoint-dir "$work/ckpt" --log-dir "$work/logs" --max-steps $steps)
if [ -n "$job" ]; then ok "sbatch launch/slurm.sbatch: job $job"; else fail "sbatch"; fi

# A requeued job is held for a while before it may start again; release it at once, with a
# time limit its remaining steps fit in, so the test waits for one requeue, not for the hold.
state=""
for _ in $(seq 1 600); do
  info=$(scontrol show job "$job" 2>/dev/null)
  state=$(sed -nE 's/.*JobState=([A-Z_]+).*/\1/p' <<<"$info" | head -1)
  case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) break ;; esac
  if [ "$state" = PENDING ] && grep -q "Reason=BeginTime" <<<"$info"; then
    scontrol update JobId="$job" TimeLimit=10 StartTime=now >/dev/null 2>&1
  fi
  sleep 1
done
[ -n "$state" ] || state=UNKNOWN
restarts=$(scontrol show job "$job" | sed -nE 's/.*Restarts=([0-9]+).*/\1/p')
echo "job $job: $state after $restarts requeue(s)"
[ "$state" = COMPLETED ] && ok "the job completed" || { fail "the job ended $state"; cat "$work/job.out"; }
grep -q "stop requested: saved" "$work/job.out" && ok "SIGUSR1 before the limit: every rank stopped and rank 0 saved" \
  || fail "no checkpoint on the warning signal"
grep -q "requeued Slurm job $job" "$work/job.out" && [ "${restarts:-0}" -ge 1 ] && ok "the job requeued itself ($restarts time(s))" \
  || fail "no requeue"
grep -q "resumed from" "$work/job.out" && grep -q "ddptrain job $job, run 2" "$work/job.out" \
  && ok "run 2 of the same job resumed from the checkpoint" || fail "no resume"
grep -qE "^done: .*global step $steps" "$work/job.out" && ok "the run finished all $steps steps" || fail "the run did not finish"
if .build/release/ddptrain inspect "$work/ckpt/step-$(printf %09d "$steps").safetensors" > /dev/null 2>&1; then
  ok "the final checkpoint verifies"
else
  fail "the final checkpoint"
fi
[ "$failed" -eq 0 ] || cat "$work/job.out"
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
