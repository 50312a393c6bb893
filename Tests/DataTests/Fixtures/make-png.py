# Writes PNGs our encoder does not make, with Pillow's own RGB reading of each as the reference
# (run once with `pip install pillow`; the files are committed):
#   rgba.png   8-bit RGBA           grey16.png  16-bit grey        rgb16.png  16-bit RGB (via numpy-free raw bytes)
import json
import struct
import zlib
from PIL import Image
import PIL

w, h = 9, 7
rgba = Image.new("RGBA", (w, h))
rgba.putdata([((x * 28) % 256, (y * 36) % 256, (x * y * 5) % 256, (x + y) * 15 % 256) for y in range(h) for x in range(w)])
rgba.save("rgba.png")
grey = Image.new("I;16", (w, h))
grey.putdata([(x * 7000 + y * 1111) % 65536 for y in range(h) for x in range(w)])
grey.save("grey16.png")


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


# Pillow writes no 16-bit RGB PNG; write one by hand (colour type 2, bit depth 16).
rows = b"".join(b"\x00" + b"".join(struct.pack(">HHH", (x * 7000) % 65536, (y * 9000) % 65536, ((x + y) * 3000) % 65536)
                                   for x in range(w)) for y in range(h))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open("rgb16.png", "wb").write(png)

reference = {"pillow": PIL.__version__}
for name in ["rgba.png", "grey16.png", "rgb16.png"]:
    image = Image.open(name)
    converted = image.convert("RGB") if image.mode != "I;16" else image.point(lambda v: v / 256).convert("L").convert("RGB")
    reference[name] = {"mode": image.mode, "rgb": [v for px in converted.get_flattened_data() for v in px]}
json.dump(reference, open("png.rgb.json", "w"))
