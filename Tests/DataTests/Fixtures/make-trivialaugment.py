"""Writes trivialaugment.json: torchvision's TrivialAugmentWide operations (its own `_apply_op`,
tensor backend, nearest-neighbour, fill None) on a fixed 8-bit image, for several magnitudes of
each, and its table of magnitude bins. Run once with PyTorch and torchvision; committed."""
import json
import os

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import TrivialAugmentWide, _apply_op

g = torch.Generator().manual_seed(0)
image = torch.randint(0, 256, (3, 13, 17), generator=g, dtype=torch.uint8)
image[:, 4:9, 5:12] = torch.tensor([200, 40, 90], dtype=torch.uint8)[:, None, None]  # a flat patch
space = TrivialAugmentWide()._augmentation_space(31)
cases = []
for name, (magnitudes, signed) in space.items():
    bins = [0, 7, 30] if magnitudes.ndim > 0 else [None]
    for b in bins:
        m = float(magnitudes[b].item()) if b is not None else 0.0
        for sign in ([1.0, -1.0] if signed else [1.0]):
            out = _apply_op(image, name, m * sign, interpolation=InterpolationMode.NEAREST, fill=None)
            cases.append({"op": name, "bin": b, "magnitude": m * sign, "output": out.flatten().tolist()})
table = {name: (magnitudes.tolist() if magnitudes.ndim > 0 else [], signed) for name, (magnitudes, signed) in space.items()}
json.dump({"shape": list(image.shape), "image": image.flatten().tolist(), "ops": list(space.keys()), "table": table, "cases": cases},
          open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "trivialaugment.json"), "w"))
