"""Writes the .pth fixtures TorchCheckpointTests reads, each beside a safetensors file of the
same tensors as float32 (run once with PyTorch and safetensors; the files are committed):
  small.pth         a state dict of float32, float16, float64, bfloat16 and int64 tensors, a
                    transposed (non-contiguous) tensor and a slice at a storage offset
  wrapped-model.pth {"model": state dict, "epoch": 3}, as training scripts save them
  wrapped-sd.pth    {"state_dict": state dict}
  evil-global.pth   a pickle naming os.system (the reader must refuse it, running nothing)
  evil-opcode.pth   a pickle using an opcode outside protocol 2's state-dict set
  legacy.pth        torch.save's pre-1.6 format"""
import collections
import io
import os
import pickle
import zipfile

import torch
from safetensors.torch import save_file

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pth")
os.makedirs(here, exist_ok=True)
g = torch.Generator().manual_seed(0)
base = torch.randn(6, 5, generator=g)
state = collections.OrderedDict()
state["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g)
state["half"] = torch.randn(7, generator=g).half()
state["double"] = torch.randn(2, 3, generator=g).double()
state["bf16"] = torch.randn(5, generator=g).bfloat16()
state["bn.num_batches_tracked"] = torch.tensor(12345, dtype=torch.int64)
state["transposed"] = base.t()             # strides (1, 5)
state["sliced"] = base[2:4, 1:4]           # offset 11 into base's storage, strides (5, 1)
torch.save(state, f"{here}/small.pth")
save_file({k: v.float().contiguous() for k, v in state.items()}, f"{here}/small.safetensors")
torch.save({"model": state, "epoch": 3}, f"{here}/wrapped-model.pth")
torch.save({"state_dict": state}, f"{here}/wrapped-sd.pth")
torch.save(state, f"{here}/legacy.pth", _use_new_zipfile_serialization=False)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ddptrain-pickle-ran",))


def rewrite_pickle(source, target, data):
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            zout.writestr(item, data if item.filename.endswith("data.pkl") else zin.read(item.filename))


rewrite_pickle(f"{here}/small.pth", f"{here}/evil-global.pth", pickle.dumps({"w": Evil()}, protocol=2))
rewrite_pickle(f"{here}/small.pth", f"{here}/evil-opcode.pth", pickle.dumps({"w": {1, 2}}, protocol=4))


# torchvision's ResNet-18 (float32) and ResNet-50 (float16 storages) state dicts, every tensor
# filled with a pattern the test recomputes (tensor k of the state dict: k + (i % 7) / 4 at flat
# index i; num_batches_tracked: k), re-zipped with deflate so the committed files stay small.
import torchvision


def patterned(model, dtype):
    out = collections.OrderedDict()
    for k, (name, tensor) in enumerate(model.state_dict().items()):
        if tensor.dtype == torch.int64:
            out[name] = torch.tensor(k, dtype=torch.int64)
        else:
            flat = k + (torch.arange(tensor.numel()) % 7).float() / 4
            out[name] = flat.reshape(tensor.shape).to(dtype)
    return out


for name, dtype in (("resnet18", torch.float32), ("resnet50", torch.float16)):
    buffer = io.BytesIO()
    torch.save(patterned(getattr(torchvision.models, name)(), dtype), buffer)
    buffer.seek(0)
    with zipfile.ZipFile(buffer) as zin, zipfile.ZipFile(f"{here}/{name}-pattern.pth", "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item.filename))
    # torch.load reads the deflated file back as it wrote it.
    assert all(torch.equal(a, b) for a, b in zip(torch.load(f"{here}/{name}-pattern.pth").values(),
                                                 patterned(getattr(torchvision.models, name)(), dtype).values()))
