"""Writes mixing.json, torchvision's own MixUp and CutMix (transforms.v2, the same formulas as its
classification reference's RandomMixup/RandomCutmix) on a fixed batch with fixed draws, and the
loss PyTorch's cross-entropy gives on the mixed soft targets with label smoothing 0.1.
Run once with PyTorch and torchvision; the file is committed."""
import json
import os

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

n, c, h, w, classes = 4, 2, 5, 6, 5
images = (torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w) * 0.37) % 3 - 1
labels = torch.tensor([0, 1, 2, 3])
logits = torch.randn(n, classes, generator=torch.Generator().manual_seed(3))
cases = []
for kind, lam, rx, ry in (("mixup", 0.3, 0, 0), ("cutmix", 0.6, 4, 1), ("cutmix", 0.2, 0, 4)):
    if kind == "mixup":
        t = v2.MixUp(num_classes=classes)
        params = {"lam": lam, "batch_size": n, "labels": labels}
        mixed_labels = t._mixup_label(labels, lam=lam)
    else:
        t = v2.CutMix(num_classes=classes)
        r = 0.5 * (1.0 - lam) ** 0.5
        rw, rh = int(r * w), int(r * h)
        box = (max(rx - rw, 0), max(ry - rh, 0), min(rx + rw, w), min(ry + rh, h))
        adjusted = 1.0 - (box[2] - box[0]) * (box[3] - box[1]) / (w * h)
        params = {"box": box, "lam_adjusted": adjusted, "batch_size": n, "labels": labels}
        mixed_labels = t._mixup_label(labels, lam=adjusted)
    out = t.transform(images, params)
    loss = F.cross_entropy(logits, mixed_labels, label_smoothing=0.1)
    cases.append({"kind": kind, "lambda": lam, "rx": rx, "ry": ry, "box": list(params.get("box", [])),
                  "lambda_adjusted": params.get("lam_adjusted", lam), "images": out.flatten().tolist(),
                  "loss": loss.item()})
json.dump({"shape": [n, c, h, w], "classes": classes, "images": images.flatten().tolist(), "labels": labels.tolist(),
           "logits": logits.flatten().tolist(), "cases": cases},
          open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "mixing.json"), "w"))
