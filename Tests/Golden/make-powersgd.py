# PyTorch's own PowerSGD hook (torch.distributed.algorithms.ddp_comm_hooks.powerSGD_hook) on a
# DDP model in one gloo process, for eight steps, written to powersgd.json, which
# Tests/DistributedTests/PowerSGDTests.swift reads. Run once with PyTorch (`pip install torch`);
# the output is committed.
#
# The model's loss is Σ w·G over its parameters, so each step's gradients are exactly the G we
# choose: weights [32, 4, 2, 2] (viewed as 32 x 16) and [24, 3, 2, 2] (24 x 12), and a bias [24].
# The weight gradients are nearly low rank with singular values falling fast (1, 0.3, 0.05,
# 0.003, then 1e-4 noise) and turn slowly from step to step, as real gradients do: the case where
# the hook's re-orthogonalisation of the warm-started Q and its QR matter. Rank 2 (the hook's
# Gram-Schmidt) and rank 4 (its QR; the 24 x 12 weight is then not compressed, as the hook decides
# with a strict `<`). The first two steps are exact (`start_powerSGD_iter` = 2, the least the hook
# allows with error feedback). The starting Q of each compressed matrix is drawn as the hook draws
# it and saved before orthogonalisation; the script checks its own copy of that draw against the
# hook's first compressed step.
import json
import math
import os

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook

SHAPES = {"w1": [32, 4, 2, 2], "w2": [24, 3, 2, 2], "b": [24]}
STEPS, EXACT_STEPS, SEED = 8, 2, 7


def noise(*k):
    """A fixed value in [-0.5, 0.5) from integers: the same on every machine."""
    x = math.sin(12.9898 * k[0] + 78.233 * k[1] + 37.719 * k[2] + 11.113 * k[3]) * 43758.5453
    return x - math.floor(x) - 0.5


def orthonormal(rows, columns, salt, step):
    """Columns of a QR of a fixed matrix that turns a little with the step."""
    a = np.array([[noise(r, c, salt, 0) + 0.05 * step * noise(r, c, salt, 1) for c in range(columns)]
                  for r in range(rows)])
    return np.linalg.qr(a)[0]


def gradient(name, step):
    shape = SHAPES[name]
    if len(shape) == 1:
        return torch.tensor([math.cos(0.5 * r + step) for r in range(shape[0])], dtype=torch.float32)
    rows, columns = shape[0], int(np.prod(shape[1:]))
    salt = 1 if name == "w1" else 2
    u, v = orthonormal(rows, 4, salt, step), orthonormal(columns, 4, salt + 10, step)
    values = u @ np.diag([1, 0.3, 0.05, 0.003]) @ v.T
    values += 1e-4 * np.array([[noise(r, c, salt, step + 2) for c in range(columns)] for r in range(rows)])
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


class Probe(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = torch.nn.Parameter(torch.zeros(SHAPES["w1"]))
        self.w2 = torch.nn.Parameter(torch.zeros(SHAPES["w2"]))
        self.b = torch.nn.Parameter(torch.zeros(SHAPES["b"]))

    def forward(self, g):
        return sum((getattr(self, name) * g[name]).sum() for name in SHAPES)


def hook_q0(rank, compressed):
    """The hook's first draw: a seed from state.rng (numpy's RandomState(SEED)), then torch.randn per matrix."""
    rng = np.random.RandomState(SEED)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(rng.randint(1_000_000_000))
        return {name: torch.randn(1, int(np.prod(SHAPES[name][1:])), rank) for name in compressed}


def run(rank):
    model = Probe()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    state = powerSGD_hook.PowerSGDState(process_group=None, matrix_approximation_rank=rank,
                                        start_powerSGD_iter=EXACT_STEPS, min_compression_rate=2,
                                        use_error_feedback=True, warm_start=True, random_seed=SEED)
    ddp.register_comm_hook(state, powerSGD_hook.powerSGD_hook)
    compressed = [n for n in ("w2", "w1") if powerSGD_hook._should_compress(
        SHAPES[n][0], int(np.prod(SHAPES[n][1:])), rank, 2)[0]]
    q0 = hook_q0(rank, compressed)
    steps = []
    for step in range(STEPS):
        g = {name: gradient(name, step) for name in SHAPES}
        for p in model.parameters():
            p.grad = None
        ddp(g).backward()
        steps.append({"gradient": {n: g[n].flatten().tolist() for n in SHAPES},
                      "applied": {n: getattr(model, n).grad.flatten().tolist() for n in SHAPES}})
        if step == EXACT_STEPS:
            check_first_compressed_step(rank, compressed, q0, g, model)
    return {"rank": rank, "exact_steps": EXACT_STEPS, "compressed": compressed,
            "q0": {n: q0[n].flatten().tolist() for n in compressed}, "steps": steps}


def check_first_compressed_step(rank, compressed, q0, g, model):
    """The saved draw is the hook's: one power iteration from it gives the hook's result."""
    for name in compressed:
        m = g[name].reshape(SHAPES[name][0], -1)
        q = q0[name].clone()
        powerSGD_hook._orthogonalize(q)
        p = (m @ q[0]).unsqueeze(0)
        powerSGD_hook._orthogonalize(p)
        approx = p[0] @ (m.t() @ p[0]).t()
        applied = getattr(model, name).grad.reshape(approx.shape)
        assert torch.allclose(approx, applied, atol=1e-6), f"q0 of {name} at rank {rank} is not the hook's draw"


if __name__ == "__main__":
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29561")
    dist.init_process_group("gloo", rank=0, world_size=1)
    cases = [run(2), run(4)]
    dist.destroy_process_group()
    with open("powersgd.json", "w") as f:
        json.dump({"torch": torch.__version__, "shapes": SHAPES, "cases": cases}, f)
