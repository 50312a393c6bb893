"""Writes Fashion-MNIST test images as 8-bit grey PNGs, with Python's zlib alone (no imaging
library), as a user would export them: write-pngs.py IDX_IMAGES_GZ FIRST COUNT OUT_DIR."""
import gzip
import struct
import sys
import zlib


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, grey_rows):
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    raw = b"".join(b"\x00" + row for row in grey_rows)  # filter type 0 per row
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def main():
    path, first, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    data = gzip.open(path).read()
    _, n, h, w = struct.unpack(">IIII", data[:16])
    for i in range(first, min(first + count, n)):
        pixels = data[16 + i * h * w: 16 + (i + 1) * h * w]
        with open(f"{out}/test-{i:05d}.png", "wb") as f:
            f.write(png(w, h, [pixels[r * w:(r + 1) * w] for r in range(h)]))


if __name__ == "__main__":
    main()
