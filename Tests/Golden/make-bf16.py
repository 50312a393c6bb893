# PyTorch's bf16 autocast answers for the ops bf16-mixed changes, written to bf16.json, which
# Tests/AutogradTests/BF16Tests.swift reads. Run once with PyTorch (`pip install torch`); the
# output is committed. For each op case:
#   inputs, params, dy         float32 tensors (not bf16-exact: both sides round them)
#   autocast                   y and the gradients of sum(y * dy) under torch.autocast("cpu", bfloat16)
#   exact                      the same in float64 from the bf16-rounded operands: what bf16 operands with
#                              an exact accumulation give
#   scale                      the same products on the operands' absolute values: the bound that any
#                              rounding of the operands' products is measured against
import json
import torch
import torch.nn.functional as F

torch.manual_seed(0)


def t(x):
    x = x.detach().to(torch.float64)
    return {"shape": list(x.shape), "data": [float(v) for v in x.flatten().tolist()]}


def bf16(x):
    return x.to(torch.bfloat16).to(torch.float64)


def case(name, op, inputs, params, attrs):
    tensors = inputs + params
    y = op(*tensors)
    dy = torch.randn_like(y)
    # Autocast: the op's operands become bf16, the output is bf16, gradients flow back through the casts.
    leaves = [v.clone().requires_grad_(True) for v in tensors]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = op(*leaves)
    (out.float() * dy).sum().backward()
    autocast = {"y": t(out.float()), "grads": [t(v.grad) for v in leaves]}

    def products(values, dy_value):
        leaves = [v.clone().requires_grad_(True) for v in values]
        out = op(*leaves)
        (out * dy_value).sum().backward()
        return {"y": t(out), "grads": [t(v.grad) for v in leaves]}

    # The bias is added in float32, not rounded: keep it as is.
    rounded = [bf16(v) if i < 2 else v.to(torch.float64) for i, v in enumerate(tensors)]
    exact = products(rounded, bf16(dy))
    scale = products([v.abs() for v in rounded], bf16(dy).abs())
    if len(tensors) == 3:
        # The bias gradient is a float32 sum of dy, not a product: dy is not rounded there.
        d = dy.to(torch.float64)
        exact["grads"][2] = t(d.sum(0))
        scale["grads"][2] = t(d.abs().sum(0))
    return {"op": name, "attrs": attrs, "inputs": [t(v) for v in inputs], "params": [t(v) for v in params], "dy": t(dy),
            "autocast": autocast, "exact": exact, "scale": scale}


cases = []
x = torch.randn(2, 8, 6, 6); w = torch.randn(16, 8, 1, 1) * 0.3
cases.append(case("conv2d", lambda x, w: F.conv2d(x, w, stride=2), [x], [w], {"stride": 2, "padding": 0, "path": "im2col"}))
x = torch.randn(2, 4, 9, 9); w = torch.randn(8, 4, 3, 3) * 0.3
cases.append(case("conv2d", lambda x, w: F.conv2d(x, w, stride=2, padding=1), [x], [w], {"stride": 2, "padding": 1, "path": "im2col"}))
x = torch.randn(2, 16, 8, 8); w = torch.randn(16, 16, 3, 3) * 0.1
cases.append(case("conv2d", lambda x, w: F.conv2d(x, w, stride=1, padding=1), [x], [w], {"stride": 1, "padding": 1, "path": "winograd"}))
x = torch.randn(5, 24); w = torch.randn(12, 24) * 0.2; b = torch.randn(12) * 0.1
cases.append(case("linear", lambda x, w, b: F.linear(x, w, b), [x], [w, b], {}))

# Rounding to bf16: ties to even, NaN, infinities, overflow, subnormals, and random values.
special = [0.0, -0.0, 1.0, 1.00390625, 1.01171875, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 3.4028234e38, 3.3961776e38, -3.4e38,
           float("inf"), float("-inf"), 1e-40, -1e-40, 9.2e-41, 1.1754944e-38, 65504.0, 0.1, 1 / 3]
values = torch.tensor(special + torch.randn(200).mul(10).tolist() + torch.rand(50).mul(1e-38).tolist(), dtype=torch.float32)
rounded = values.to(torch.bfloat16).to(torch.float32)
rounding = {"values": [int(v) for v in values.view(torch.int32).tolist()], "rounded": [int(v) for v in rounded.view(torch.int32).tolist()]}

json.dump({"torch": torch.__version__, "cases": cases, "rounding": rounding}, open("bf16.json", "w"))
print(f"{len(cases)} cases, {len(special)} special values; torch {torch.__version__}")
