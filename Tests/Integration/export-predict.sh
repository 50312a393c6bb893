#!/usr/bin/env bash
# Deployment, from the command line: train briefly on Fashion-MNIST, then
#   1. `ddptrain predict` on test images written as PNGs gives the classes and probabilities
#      of the exported ONNX file run in onnxruntime on the raw images (the README's recipe:
#      normalisation read from the file's metadata); that predict equals evaluation's model on
#      the same samples is PredictionTests' part;
#   2. malformed inputs (a text file, a colour image for a grey model, a checkpoint of another
#      model, a weights file, a missing file) end with a message and status 1, never a crash.
# Prints "integration: N passed, M failed". Run from the project root after a release build.
set -uo pipefail
bin=$PWD/.build/release/ddptrain
images=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
ok()   { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }

"$bin" train resnet18 --data fashion-mnist --max-steps 8 --batch-size 16 --eval-limit 32 --threads 2 \
  --checkpoint-dir "$work/ck" --log-dir "$work/logs" > "$work/train.log" 2>&1 || { cat "$work/train.log"; fail "training"; }
checkpoint=$(ls "$work"/ck/step-*.safetensors | tail -1)

mkdir -p "$work/png"
python3 Tests/Integration/write-pngs.py "$images" 0 40 "$work/png"
"$bin" predict --checkpoint "$checkpoint" --json "$work"/png/test-*.png > "$work/predict.jsonl" 2> "$work/predict.err" \
  && [ "$(wc -l < "$work/predict.jsonl")" -eq 40 ] && ok "predict: 40 PNGs, one JSON line each" \
  || { cat "$work/predict.err"; fail "predict on PNGs"; }

if "$bin" export "$checkpoint" --format onnx --out "$work/model.onnx" > "$work/export.log" 2>&1; then
  ok "export --format onnx"
  python3 Tests/Integration/onnx-fashion.py "$work/model.onnx" "$images" 0 40 > "$work/onnx.jsonl" 2>&1 || cat "$work/onnx.jsonl"
  python3 - "$work/predict.jsonl" "$work/onnx.jsonl" <<'PY' && ok "predict's classes and probabilities equal onnxruntime's on the raw test images" || fail "predict against onnxruntime"
import json, sys
predicted = [json.loads(l) for l in open(sys.argv[1])]
reference = [json.loads(l) for l in open(sys.argv[2])]
assert len(predicted) == len(reference) == 40, (len(predicted), len(reference))
for p, r in zip(predicted, reference):
    assert p["file"].endswith(f"test-{r['index']:05d}.png"), (p["file"], r["index"])
    best = p["top5"][0]
    assert best["index"] == r["top1"] and best["name"] == r["name"], (p, r)
    assert abs(best["probability"] - r["probability"]) < 1e-4, (p, r)
    chances = [s["probability"] for s in p["top5"]]
    assert len(chances) == 5 and chances == sorted(chances, reverse=True) and sum(chances) <= 1 + 1e-9, p
print("40 of 40 agree")
PY
else
  cat "$work/export.log"; fail "export --format onnx"
fi

# Malformed inputs: status 1 and the message, no crash.
python3 - "$work/colour.png" <<'PY'
import struct, sys, zlib
def chunk(k, d): return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)
raw = b"".join(b"\x00" + bytes([200, 20, 20]) * 28 for _ in range(28))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
echo "not an image" > "$work/notes.jpg"
"$bin" export "$checkpoint" --out "$work/weights.safetensors" > /dev/null
expect_error() {  # expect_error DESCRIPTION MESSAGE-PART ARGS...
  local what=$1 part=$2; shift 2
  "$bin" "$@" > "$work/out" 2> "$work/err"; local status=$?
  if [ $status -eq 1 ] && grep -q -- "$part" "$work/err"; then ok "$what: status 1, '$part'"
  else fail "$what: status $status, stderr: $(head -3 "$work/err")"; fi
}
expect_error "a text file named .jpg" "notes.jpg: not a JPEG or PNG file" predict --checkpoint "$checkpoint" "$work/notes.jpg"
expect_error "a colour image for a greyscale model" "colour.png: a colour image, but the model takes greyscale" \
  predict --checkpoint "$checkpoint" "$work/colour.png"
expect_error "a checkpoint of another model" "checkpoint of model 'resnet18', not 'unet'" \
  predict --checkpoint "$checkpoint" --model unet "$work/png/test-00000.png"
expect_error "a weights file given as a checkpoint" "not a ddptrain checkpoint" \
  predict --checkpoint "$work/weights.safetensors" "$work/png/test-00000.png"
expect_error "a missing image" "test-99999.png: cannot read the file" predict --checkpoint "$checkpoint" "$work/png/test-99999.png"
expect_error "export of a missing checkpoint" "checkpoint not found" export "$work/none.safetensors" --format onnx --out "$work/x.onnx"

echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
