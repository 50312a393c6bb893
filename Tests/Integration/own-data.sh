#!/usr/bin/env bash
# Your own data, from the command line:
#   1. a segmentation folder written with Pillow (make-segfolder.py: RGB and grey images, plain
#      and palette masks, ignore pixels, a mask of the wrong size, an image without its mask and
#      a mask without its image) stops with the file named, and trains under `mpirun -n 2` with
#      --bad-samples skip; its pixel accuracy, per-class IoU and mean IoU, from training's
#      all-reduced evaluation and from `ddptrain eval --per-class`, equal NumPy's from the
#      masks `predict` writes on the same images, to 1e-6;
#   2. Fashion-MNIST written as .npy by NumPy (with its mean and std) trains and evaluates to the
#      same numbers as the built-in source with the same seed.
# Prints "integration: N passed, M failed". Run from the project root after a release build.
set -uo pipefail
bin=$PWD/.build/release/ddptrain
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
ok()   { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }

seg=$work/seg
python3 Tests/Integration/make-segfolder.py "$seg" --train 24 --val 9 --size 48 --mismatch
common=(--data segfolder --data-dir "$seg" --image-size 48 --batch-size 4 --threads 1)

"$bin" train unet "${common[@]}" --max-steps 3 --checkpoint-dir "$work/ck0" --log-dir "$work/logs0" > "$work/bad.log" 2>&1
status=$?
[ "$status" -eq 1 ] && grep -qE "error: $seg/train/(masks|images)/(bad-size|no-image|no-mask)\.png: " "$work/bad.log" \
  && ok "a broken pair stops the run, naming the file (status $status)" || { cat "$work/bad.log"; fail "broken pair (status $status)"; }

mpirun -n 2 --oversubscribe "$bin" train unet "${common[@]}" --max-steps 20 --bad-samples skip --lr 0.2 \
  --checkpoint-dir "$work/ck" --log-dir "$work/logs" > "$work/train.log" 2>&1 \
  && ok "UNet trains on the folder under mpirun -n 2, skipping the 3 broken pairs" || { cat "$work/train.log"; fail "training"; }
grep -q "segfolder: 4 classes (largest mask value 3" "$work/train.log" && ok "the class count is said at start-up" \
  || fail "no class count at start-up"
grep -q "3 bad samples replaced" "$work/train.log" || grep -q "bad samples replaced" "$work/train.log" \
  && ok "the broken pairs were counted" || fail "bad samples not counted"
checkpoint=$(ls "$work"/ck/step-*.safetensors 2>/dev/null | tail -1)

"$bin" eval unet --checkpoint "$checkpoint" "${common[@]}" --json --per-class --output-dir "$work/eval" > "$work/eval.json" \
  2> "$work/eval.err" && ok "eval --per-class" || { cat "$work/eval.err"; fail "eval"; }
mkdir -p "$work/pred"
"$bin" predict --checkpoint "$checkpoint" --mask-dir "$work/pred" --overlay --json "$seg"/val/images/* > "$work/predict.jsonl" \
  2> "$work/predict.err" && [ "$(wc -l < "$work/predict.jsonl")" -eq 9 ] && ls "$work"/pred/*_overlay.png > /dev/null 2>&1 \
  && ok "predict: 9 masks and overlays" || { cat "$work/predict.err"; fail "predict"; }

python3 - "$seg" "$work/pred" "$work/eval.json" "$work/eval/confusion-matrix.csv" "$work/logs/metrics.jsonl" <<'PY' \
  && ok "training's and eval's pixel accuracy, IoU and mean IoU equal NumPy's from predict's masks (1e-6)" \
  || fail "metrics against NumPy"
import csv, glob, json, os, sys
import numpy as np
from PIL import Image
seg, pred, eval_json, matrix_csv, metrics = sys.argv[1:]
classes = 4
confusion = np.zeros((classes, classes), dtype=np.int64)
for path in sorted(glob.glob(f"{seg}/val/masks/*.png")):
    truth = np.array(Image.open(path)).astype(np.int64).ravel()
    stem = os.path.splitext(os.path.basename(path))[0]
    guess = np.array(Image.open(f"{pred}/{stem}_mask.png")).astype(np.int64).ravel()
    keep = truth != 255
    confusion += np.bincount(classes * truth[keep] + guess[keep], minlength=classes * classes).reshape(classes, classes)
accuracy = np.diag(confusion).sum() / confusion.sum()
union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
iou = np.where(union > 0, np.diag(confusion) / np.maximum(union, 1), np.nan)
mean_iou = np.nanmean(iou)
ours = json.load(open(eval_json))
rows = list(csv.reader(open(matrix_csv)))[1:]
matrix = np.array([[int(v) for v in row[1:]] for row in rows])
assert (matrix == confusion).all(), (matrix, confusion)
assert abs(ours["accuracy"] - accuracy) < 1e-6 and abs(ours["mean_iou"] - mean_iou) < 1e-6, (ours, accuracy, mean_iou)
assert ours["samples"] == 9, ours
for k, entry in enumerate(ours["per_class"]):
    assert (entry["iou"] is None and np.isnan(iou[k])) or abs(entry["iou"] - iou[k]) < 1e-6, (k, entry, iou[k])
logged = [json.loads(l) for l in open(metrics) if '"mean_iou"' in l][-1]
assert abs(logged["mean_iou"] - mean_iou) < 1e-6, (logged, mean_iou)
print(f"pixel accuracy {accuracy:.6f}, IoU {np.round(iou, 6).tolist()}, mean IoU {mean_iou:.6f} over {confusion.sum()} pixels")
PY

# Fashion-MNIST as NumPy arrays against the built-in source.
python3 - /usr/share/datasets/fashion-mnist "$work/npy" <<'PY'
import gzip, os, struct, sys
import numpy as np
source, out = sys.argv[1:]
os.makedirs(out)
def idx(name):
    data = gzip.open(f"{source}/{name}.gz").read()
    dims = struct.unpack(">" + "I" * data[3], data[4:4 + 4 * data[3]])
    return np.frombuffer(data[4 + 4 * data[3]:], np.uint8).reshape(dims)
np.save(f"{out}/train_images.npy", idx("train-images-idx3-ubyte"))
np.save(f"{out}/train_labels.npy", idx("train-labels-idx1-ubyte").astype(np.int64))
np.save(f"{out}/val_images.npy", idx("t10k-images-idx3-ubyte"))
np.save(f"{out}/val_labels.npy", idx("t10k-labels-idx1-ubyte").astype(np.int64))
PY
fashion=(--max-steps 12 --batch-size 32 --warmup-epochs 0 --eval-limit 500 --seed 7 --threads 2 --stem cifar)
"$bin" train resnet18 --data fashion-mnist "${fashion[@]}" --checkpoint-dir "$work/fc1" --log-dir "$work/fl1" > "$work/f1.log" 2>&1
"$bin" train resnet18 --data npy --data-dir "$work/npy" --mean 0.2860 --std 0.3530 "${fashion[@]}" \
  --checkpoint-dir "$work/fc2" --log-dir "$work/fl2" > "$work/f2.log" 2>&1
a=$(grep "^eval after" "$work/f1.log"); b=$(grep "^eval after" "$work/f2.log")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "Fashion-MNIST as .npy evaluates as the built-in source: $a" \
  || { tail -3 "$work/f1.log" "$work/f2.log"; fail "npy against the built-in source"; }

echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
