#!/usr/bin/env bash
# Fine-tuning from PyTorch's own files, from the command line (the README's example):
#   1. a pickle naming os.system given as --weights is refused with its name and status 1, and
#      nothing runs (always);
#   2. with PyTorch and torchvision importable: torchvision's ResNet-18 saved by torch.save,
#      fine-tuned on an image folder with the backbone frozen and the head at 10x the rate,
#      evaluated and used by predict. Without them, that part says it was skipped and why.
# Prints "integration: N passed, M failed". Run from the project root after a release build.
set -uo pipefail
bin=$PWD/.build/release/ddptrain
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
ok()   { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }

rm -f /tmp/ddptrain-pickle-ran
"$bin" train resnet18 --data synthetic --image-size 32 --max-steps 1 --weights Tests/NNTests/Fixtures/pth/evil-global.pth \
  --checkpoint-dir "$work/evil" --log-dir "$work/evil-logs" > "$work/evil.log" 2>&1
status=$?
[ "$status" -eq 1 ] && grep -q "refused: the pickle names the global posix.system" "$work/evil.log" && [ ! -e /tmp/ddptrain-pickle-ran ] \
  && ok "a .pth naming os.system is refused by name, status 1, nothing run" || { cat "$work/evil.log"; fail "malicious pickle (status $status)"; }

if ! python3 -c "import torch, torchvision, PIL" 2> /dev/null; then
  echo "skipped: the torchvision fine-tuning example needs PyTorch and torchvision (pip install torch torchvision); the .pth reader's own tests use committed files"
else
  python3 - "$work" <<'PY'
import os, sys
import torch, torchvision
from PIL import Image
work = sys.argv[1]
torch.manual_seed(0)
torch.save(torchvision.models.resnet18().state_dict(), f"{work}/resnet18.pth")
for split, count in (("train", 12), ("val", 4)):
    for label, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        os.makedirs(f"{work}/images/{split}/{label}", exist_ok=True)
        for i in range(count):
            Image.new("RGB", (72, 64), tuple(max(0, c - 8 * i) for c in colour)).save(f"{work}/images/{split}/{label}/{i}.png")
PY
  "$bin" train resnet18 --data imagefolder --data-dir "$work/images" --image-size 64 --weights "$work/resnet18.pth" \
    --num-classes 2 --freeze backbone --head-lr-factor 10 --max-steps 6 --batch-size 4 --threads 2 \
    --checkpoint-dir "$work/ck" --log-dir "$work/logs" > "$work/train.log" 2>&1 \
    && grep -q "kept the new classifier head (fc.weight, fc.bias)" "$work/train.log" && grep -q "1026 train; frozen: backbone" "$work/train.log" \
    && ok "fine-tunes torchvision's resnet18.pth on an image folder, backbone frozen" || { cat "$work/train.log"; fail "fine-tuning"; }
  checkpoint=$(ls "$work"/ck/step-*.safetensors 2> /dev/null | tail -1)
  "$bin" eval resnet18 --checkpoint "$checkpoint" --json > "$work/eval.json" 2> "$work/eval.err" \
    && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["samples"] == 8, d' "$work/eval.json" \
    && ok "eval: $(cat "$work/eval.json")" || { cat "$work/eval.err"; fail "eval"; }
  "$bin" predict --checkpoint "$checkpoint" --top 2 --json "$work/images/val/red/0.png" > "$work/predict.json" 2> "$work/predict.err" \
    && grep -q '"name":"red"' "$work/predict.json" && ok "predict names the classes: $(cat "$work/predict.json")" \
    || { cat "$work/predict.err" "$work/predict.json"; fail "predict"; }
fi

echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
