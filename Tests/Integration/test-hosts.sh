#!/usr/bin/env bash
# Across test hosts (launch/test-hosts: network namespaces on a bridge, one rank per host, TCP
# only): a 2-host training run, then a cut link mid-run: the job ends within the collective
# timeout plus 60 s, every checkpoint verifies, and with the link back --resume auto completes.
# Prints "integration: N passed, M failed". Run from the project root after a release build, as root.
set -uo pipefail
bin=$(pwd)/.build/release/ddptrain
hosts="bash launch/test-hosts"
work=$(mktemp -d)
passed=0; failed=0
ok()   { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
trap '$hosts down; rm -rf "$work"' EXIT

if ! $hosts up 3 > /dev/null; then
  fail "test hosts"; echo "integration: $passed passed, $failed failed"; exit 1
fi
cp Tests/Integration/small.yaml "$work/small.yaml"
cat >> "$work/small.yaml" <<'YAML'
synthetic_count: 800
epochs: 30
checkpoint_every: 25
log_every: 25
threads: 1
YAML
# The daemons' own connections notice a dead link in seconds, not after TCP's minutes.
keepalive=(--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3)
train() {  # train NAME [ddptrain flags...]
  local name=$1; shift
  timeout 300 $hosts mpirun 2 -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM "${keepalive[@]}" \
    "$bin" resnet18 --config "$work/small.yaml" --checkpoint-dir "$work/$name" --log-dir "$work/$name-logs" "$@"
}

if train a --max-steps 20 > "$work/a.log" 2>&1 && grep -q "^done: 20 steps" "$work/a.log"; then
  ok "2 hosts × 1 rank over TCP trained 20 steps"
else
  fail "2-host run"; cat "$work/a.log"
fi

train b --collective-timeout 15 > "$work/b.log" 2>&1 &
job=$!
for _ in $(seq 1 120); do [ -e "$work/b/step-000000050.safetensors" ] && break; sleep 0.5; done
if [ -e "$work/b/step-000000050.safetensors" ]; then
  $hosts link 2 down
  cut=$(date +%s)
  for _ in $(seq 1 90); do kill -0 "$job" 2>/dev/null || break; sleep 1; done
  took=$(( $(date +%s) - cut ))
  if kill -0 "$job" 2>/dev/null; then
    fail "a cut link: the job was still running after 90 s"; kill "$job"
  else
    wait "$job"; status=$?
    [ "$status" -ne 0 ] && [ "$took" -le 75 ] && ok "a cut link: the job ended in $took s (status $status)" \
      || fail "a cut link: status $status after $took s"
  fi
  # Rank 1 on the far side of the cut times out by itself.
  rank_beyond_cut() { for pid in $(ip netns pids ddp-h2); do grep -qa "$bin" "/proc/$pid/cmdline" 2>/dev/null && return 0; done; return 1; }
  for _ in $(seq 1 30); do rank_beyond_cut || break; sleep 1; done
  rank_beyond_cut && fail "the rank beyond the cut was still running" || ok "the rank beyond the cut ended too"
  bad=0
  for file in "$work"/b/step-*.safetensors; do "$bin" inspect "$file" > /dev/null 2>&1 || bad=$((bad + 1)); done
  [ "$bad" -eq 0 ] && ok "every checkpoint verifies ($(ls "$work"/b/step-*.safetensors | wc -l))" || fail "$bad checkpoints do not verify"
  $hosts link 2 up
  if train b --resume auto --max-steps 100 > "$work/b2.log" 2>&1 && grep -q "resumed from" "$work/b2.log" \
     && grep -q "^done: .*global step 100" "$work/b2.log"; then
    ok "with the link back, --resume auto completes"
  else
    fail "resume after the cut"; cat "$work/b2.log"
  fi
else
  fail "no checkpoint at step 50"; kill "$job" 2>/dev/null; cat "$work/b.log"
fi
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
