#!/usr/bin/env bash
# Under mpirun, as a preempted or crashed job meets it:
#   1. SIGKILL one rank mid-run, resume with --resume auto: the final parameters are
#      byte-identical to an uninterrupted run's.
#   2. SIGTERM (what Slurm sends on preemption): every rank finishes its step, rank 0 saves,
#      and the job exits 0.
#   3. SIGSTOP one rank (a frozen node): the collective timeout ends the job, naming the rank.
# Prints "integration: N passed, M failed". Run from the project root after a release build.
set -uo pipefail
bin=.build/release/ddptrain
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
ok()   { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }

cp Tests/Integration/small.yaml "$work/small.yaml"
cat >> "$work/small.yaml" <<'YAML'
synthetic_count: 96
epochs: 3
warmup_epochs: 0.5
checkpoint_every: 3
keep: 2
log_every: 6
threads: 1
YAML

train() {  # train NAME [flags...]
  local name=$1; shift
  mpirun -n 2 --oversubscribe "$bin" resnet18 --config "$work/small.yaml" --checkpoint-dir "$work/$name" \
    --log-dir "$work/$name-logs" "$@"
}
ranks_of() { pgrep -f "^$bin resnet18 --config $work/small.yaml --checkpoint-dir $work/$1 "; }
wait_for() {  # wait_for FILE SECONDS
  for _ in $(seq 1 $(( $2 * 10 ))); do [ -e "$1" ] && return 0; sleep 0.1; done
  return 1
}
newest() { ls "$work/$1"/step-*.safetensors 2>/dev/null | sort | tail -1; }

# Uninterrupted reference.
if train a > "$work/a.log" 2>&1; then ok "uninterrupted run of 36 steps"; else fail "uninterrupted run"; cat "$work/a.log"; fi
"$bin" export "$(newest a)" --out "$work/a.safetensors" > /dev/null

# 1. SIGKILL one rank once step 9 is saved, then resume.
train b > "$work/b1.log" 2>&1 &
job=$!
if wait_for "$work/b/step-000000009.safetensors" 120; then
  victim=$(ranks_of b | tail -1)
  kill -9 "$victim"
  if wait "$job"; then fail "the job survived a killed rank"; else ok "SIGKILL of rank pid $victim ended the job"; fi
else
  fail "no checkpoint at step 9 within 120 s"; kill "$job" 2>/dev/null; wait "$job"
fi
stopped_at=$(basename "$(newest b)")
if train b --resume auto > "$work/b2.log" 2>&1; then ok "resumed from $stopped_at and finished"; else fail "resume"; cat "$work/b2.log"; fi
grep -q "resumed from" "$work/b2.log" && ok "the resumed run says where it resumed" || fail "no resume line"
"$bin" export "$(newest b)" --out "$work/b.safetensors" > /dev/null
if cmp -s "$work/a.safetensors" "$work/b.safetensors"; then
  ok "final parameters after kill and resume are byte-identical to the uninterrupted run"
else
  fail "final parameters differ after kill and resume"
fi

# 2. SIGTERM to every rank once step 3 is saved: finish the step, save, exit 0.
train c > "$work/c.log" 2>&1 &
job=$!
if wait_for "$work/c/step-000000003.safetensors" 120; then
  pkill -TERM -f "^$bin resnet18 --config $work/small.yaml --checkpoint-dir $work/c "
  if wait "$job"; then ok "SIGTERM: exit status 0"; else fail "SIGTERM: non-zero exit status"; cat "$work/c.log"; fi
  grep -q "stop requested: saved" "$work/c.log" && ok "SIGTERM: a checkpoint was saved" || { fail "SIGTERM: no save"; cat "$work/c.log"; }
  "$bin" inspect "$(newest c)" > /dev/null && ok "SIGTERM: the saved checkpoint verifies" || fail "SIGTERM checkpoint does not verify"
else
  fail "no checkpoint at step 3 within 120 s"; kill "$job" 2>/dev/null; wait "$job"
fi

# 3. A frozen rank (SIGSTOP once step 3 is saved) with --collective-timeout 10: the job ends on
#    its own within 40 s, the message names the rank, and --resume auto then completes.
train f --collective-timeout 10 > "$work/f.log" 2>&1 &
job=$!
if wait_for "$work/f/step-000000003.safetensors" 120; then
  victim=$(ranks_of f | tail -1)
  kill -STOP "$victim"
  stopped=$(date +%s)
  for _ in $(seq 1 60); do kill -0 "$job" 2>/dev/null || break; sleep 1; done
  took=$(( $(date +%s) - stopped ))
  if kill -0 "$job" 2>/dev/null; then
    fail "a frozen rank: the job was still running after 60 s"; kill -CONT "$victim"; kill "$job"; wait "$job"
  else
    wait "$job"; status=$?
    [ "$status" -ne 0 ] && [ "$took" -le 40 ] && ok "a frozen rank: the job ended in $took s with status $status" \
      || fail "a frozen rank: status $status after $took s"
    grep -q "collective timeout: .* rank 1 has not arrived\|collective timeout: .* rank 1 entered it but has not answered" "$work/f.log" \
      && ok "the timeout names the frozen rank" || { fail "the timeout message"; cat "$work/f.log"; }
  fi
  kill -CONT "$victim" 2>/dev/null
  if train f --resume auto > "$work/f2.log" 2>&1 && grep -q "resumed from" "$work/f2.log"; then
    ok "after the timeout, --resume auto completes"
  else
    fail "resume after the timeout"; cat "$work/f2.log"
  fi
else
  fail "no checkpoint at step 3 within 120 s"; kill "$job" 2>/dev/null; wait "$job"
fi

# Resuming on another world size: the checkpoint of 2 ranks on 1 rank (batch 8 keeps the global batch).
if timeout 300 "$bin" resnet18 --config "$work/small.yaml" --checkpoint-dir "$work/c" --log-dir "$work/c-logs" --resume auto \
     --max-steps 20 > "$work/c2.log" 2>&1 && grep -q "resuming on 1 ranks (saved on 2)" "$work/c2.log"; then
  ok "a 2-rank checkpoint resumes on 1 rank with the global batch kept"
else
  fail "resume on another world size"; cat "$work/c2.log"
fi

# --timeline on 2 ranks: one trace, merged by rank 0, with both ranks' steps and buckets.
if train g --max-steps 4 --timeline "$work/trace.json" > "$work/g.log" 2>&1 && python3 - "$work/trace.json" <<'PY'
import json, sys
events = [e for e in json.load(open(sys.argv[1]))["traceEvents"] if e["ph"] == "X"]
assert {e["pid"] for e in events} == {0, 1}, "both ranks"
for rank in (0, 1):
    mine = [e for e in events if e["pid"] == rank]
    assert sum(e["name"] == "forward" for e in mine) == 4, "4 steps"
    assert any(e["name"].endswith("all-reduce") and e["tid"] == 1 for e in mine), "buckets"
PY
then
  ok "--timeline: rank 0 wrote one trace with both ranks' steps and all-reduces"
else
  fail "--timeline"; cat "$work/g.log"
fi

# Evaluation of a checkpoint, on 2 ranks: each of the 96 test samples once, JSON out.
if out=$(mpirun -n 2 --oversubscribe "$bin" eval resnet18 --checkpoint "$(newest a)" --json 2> "$work/e.log"); then
  echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["samples"] == 96 and 0 <= d["accuracy"] <= 1, d' \
    && ok "eval --json on 2 ranks: $out" || fail "eval output: $out"
else
  fail "eval"; cat "$work/e.log"
fi

# Every rank exits cleanly on a bad input, with one message (no hang, no crash trace).
if timeout 120 mpirun -n 2 --oversubscribe "$bin" resnet18 --config "$work/small.yaml" --lr=-1 > "$work/d.log" 2>&1; then
  fail "a negative learning rate was accepted"
else
  grep -q "lr must be a positive number" "$work/d.log" && ! grep -q "Fatal error\|Stack dump" "$work/d.log" \
    && ok "bad config: clear message, non-zero exit, no hang" || { fail "bad config output"; cat "$work/d.log"; }
fi

# Frozen layers are not all-reduced: bench's bytes on the wire per step drop by theirs.
for f in none frozen; do
  extra=(); [ "$f" = frozen ] && extra=(--freeze conv1,bn1,layer1,layer2,layer3)
  mpirun -n 2 --oversubscribe "$bin" bench resnet18 --image-size 32 --batch-size 4 --steps 2 --threads 1 --json "${extra[@]}" \
    2> "$work/bench-$f.log" | tail -1 > "$work/bench-$f.json"
done
python3 - "$work/bench-none.json" "$work/bench-frozen.json" <<'PY' && ok "--freeze: all-reduced bytes per step drop by the frozen parameters'" || fail "--freeze all-reduce bytes"
import json, sys
full, frozen = (json.load(open(path))["wire_mib_per_step"] for path in sys.argv[1:])
# ResNet-18 (1000 classes): layer4 and fc train, 8,393,728 + 513,000 of 11,689,512 parameters.
expected = full * (8_393_728 + 513_000) / 11_689_512
assert abs(frozen - expected) < 1e-6 * full, (full, frozen, expected)
print(f"wire MiB per step: {full:.2f} all, {frozen:.2f} with conv1..layer3 frozen")
PY

echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
