"""Writes the .npy/.npz fixtures NumPyTests reads (run once with NumPy; the files are committed).
Every accepted array holds value(i) = (i % 64) * 0.25 - 8 (floats; exact in float16) or
(i * 37) % 200 - 100 (signed ints; % 200 for unsigned) at flat index i, C order, so the test
recomputes what each element must be."""
import os
import zipfile

import numpy as np

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npy")
os.makedirs(here, exist_ok=True)
shape = (2, 3, 4, 5)
i = np.arange(np.prod(shape)).reshape(shape)


def values(dtype):
    if np.dtype(dtype).kind == "f":
        return ((i % 64) * 0.25 - 8).astype(dtype)
    if np.dtype(dtype).kind == "u":
        return ((i * 37) % 200).astype(dtype)
    return ((i * 37) % 200 - 100).astype(dtype)


for dtype in ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8"]:
    np.save(f"{here}/{dtype}.npy", values("<" + dtype))
for version in [(2, 0), (3, 0)]:
    with open(f"{here}/f4-v{version[0]}.npy", "wb") as f:
        np.lib.format.write_array(f, values("<f4"), version=version)
np.save(f"{here}/scalar-shape.npy", np.arange(7, dtype=np.int64))

# Rejected forms.
np.save(f"{here}/big-endian.npy", values(">f4"))
np.save(f"{here}/fortran.npy", np.asfortranarray(values("<f4")))
np.save(f"{here}/object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
np.save(f"{here}/structured.npy", np.zeros(3, dtype=[("x", "<f4"), ("y", "<i4")]))
np.save(f"{here}/unicode.npy", np.array(["cat", "dog"]))
with open(f"{here}/f4.npy", "rb") as f:
    whole = f.read()
with open(f"{here}/truncated.npy", "wb") as f:
    f.write(whole[:-7])
with open(f"{here}/bad-magic.npy", "wb") as f:
    f.write(b"NUMPY" + whole[5:])

# A data set: 6 RGB images of 6x6, NHWC uint8, labels int64; val as NCHW float32 in [0, 1].
images = ((np.arange(6 * 6 * 6 * 3) * 11) % 256).astype(np.uint8).reshape(6, 6, 6, 3)
labels = np.array([0, 1, 2, 0, 1, 2], dtype=np.int64)
val_images = images.transpose(0, 3, 1, 2).astype(np.float32) / 255
os.makedirs(f"{here}/set", exist_ok=True)
np.save(f"{here}/set/train_images.npy", images)
np.save(f"{here}/set/train_labels.npy", labels)
np.save(f"{here}/set/val_images.npy", val_images)
np.save(f"{here}/set/val_labels.npy", labels.astype(np.uint8))
np.savez(f"{here}/stored.npz", train_images=images, train_labels=labels, val_images=val_images, val_labels=labels)
np.savez_compressed(f"{here}/compressed.npz", train_images=images, train_labels=labels, val_images=val_images,
                    val_labels=labels)
# Segmentation masks (N x H x W), 255 ignored, and a set whose label count does not match.
masks = (np.arange(6 * 6 * 6) % 3).astype(np.uint8).reshape(6, 6, 6)
masks[:, 0, 0] = 255
os.makedirs(f"{here}/seg", exist_ok=True)
for split in ["train", "val"]:
    np.save(f"{here}/seg/{split}_images.npy", images)
    np.save(f"{here}/seg/{split}_labels.npy", masks)
os.makedirs(f"{here}/mismatched", exist_ok=True)
np.save(f"{here}/mismatched/train_images.npy", images)
np.save(f"{here}/mismatched/train_labels.npy", labels[:5])
np.save(f"{here}/mismatched/val_images.npy", images)
np.save(f"{here}/mismatched/val_labels.npy", labels)
