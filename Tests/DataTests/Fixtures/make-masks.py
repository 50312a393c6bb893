"""Writes the mask PNGs IndexedPNGTests reads, with what Pillow reads from each (the values of
np.array(Image.open(file)): palette indices for "P", grey values otherwise) in masks/expected.json.
Run once with Pillow and NumPy; the files are committed."""
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "masks")
os.makedirs(here, exist_ok=True)
w, h = 13, 7
values = (np.arange(w * h).reshape(h, w) * 7 % 21).astype(np.uint8)
values[0, :3] = 255

Image.fromarray(values).save(f"{here}/grey8.png")
palette = Image.fromarray(values).convert("P")
palette.putpalette([(i * 53) % 256 for i in range(768)])
palette.save(f"{here}/palette8.png")
small = Image.fromarray((values % 16).astype(np.uint8)).convert("P")
small.putpalette([(i * 29) % 256 for i in range(48)])
small.save(f"{here}/palette4.png", bits=4)
Image.fromarray((values % 2).astype(bool)).save(f"{here}/bits1.png")
Image.fromarray((values.astype(np.uint16) * 1000)).save(f"{here}/grey16.png")
Image.fromarray(np.stack([values] * 3, axis=-1)).save(f"{here}/rgb.png")


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


# An 8-bit grey PNG whose rows use each of PNG's five filters in turn (Pillow's encoder uses one).
busy = (np.arange(w * h).reshape(h, w) ** 2 % 241).astype(np.uint8)  # no pattern the predictors could hide
rows = []
previous = [0] * w
for y in range(h):
    row = [int(v) for v in busy[y]]
    kind = y % 5
    encoded = []
    for x in range(w):
        a = row[x - 1] if x else 0
        b = previous[x]
        c = previous[x - 1] if x else 0
        predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        encoded.append((row[x] - predictor) % 256)
    rows.append(bytes([kind] + encoded))
    previous = row
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")
with open(f"{here}/filters.png", "wb") as f:
    f.write(png)
with open(f"{here}/damaged.png", "wb") as f:
    f.write(png[:40] + bytes([png[40] ^ 0xFF]) + png[41:])

expected = {}
for name in ["grey8", "palette8", "palette4", "bits1", "grey16", "filters"]:
    image = Image.open(f"{here}/{name}.png")
    array = np.array(image).astype(np.int64)
    expected[name] = {"mode": image.mode, "width": image.width, "height": image.height, "values": array.flatten().tolist()}
with open(f"{here}/expected.json", "w") as f:
    json.dump(expected, f)
