# PyTorch's PowerSGD arithmetic on one rank for three steps of one bucket, written to
# powersgd.json, which Tests/DistributedTests/PowerSGDTests.swift reads. Run once with PyTorch
# (`pip install torch`); the output is committed. The bucket holds a [24, 3, 2, 2] weight (viewed
# as 24 x 12, compressed at rank 2 and at rank 3) and a [24] bias (uncompressed). Each step follows
# powerSGD_hook: add the error, P = M·Q, orthogonalize P (torch's _orthogonalize: Gram-Schmidt for
# rank <= 2, QR above), Q = Mᵀ·P, approximation P·Qᵀ, error = M − approximation; Q carries over.
# Q starts from the given values (orthogonalized), which the Swift side sets too.
import json
import math

import torch
from torch.distributed.algorithms.ddp_comm_hooks.powerSGD_hook import _orthogonalize


def noise(*k):
    """A fixed value in [-0.5, 0.5) from integers: full-rank matrices, the same on every machine."""
    x = math.sin(12.9898 * k[0] + 78.233 * k[1] + 37.719 * k[2]) * 43758.5453
    return x - math.floor(x) - 0.5


def gradient(step):
    w = torch.tensor([[noise(r, c, step) for c in range(12)] for r in range(24)], dtype=torch.float64)
    b = torch.tensor([math.cos(0.5 * r + step) for r in range(24)], dtype=torch.float64)
    return w, b


def run(rank):
    q = torch.tensor([[noise(i, j, 99) for j in range(rank)] for i in range(12)], dtype=torch.float32)
    q0 = q.clone()
    _orthogonalize(q.unsqueeze(0))
    error = torch.zeros(24, 12, dtype=torch.float32)
    steps = []
    for step in range(3):
        w, b = gradient(step)
        m = w.to(torch.float32) + error
        p = m @ q
        p3 = p.unsqueeze(0)
        _orthogonalize(p3)
        p = p3[0]
        q = m.t() @ p
        approx = p @ q.t()
        error = m - approx
        steps.append({"weight": w.flatten().tolist(), "bias": b.flatten().tolist(),
                      "applied_weight": approx.flatten().tolist(), "applied_bias": b.to(torch.float32).flatten().tolist()})
    return {"rank": rank, "q0": q0.flatten().tolist(), "steps": steps}


with open("powersgd.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": [run(2), run(3)]}, f)
