"""Writes a segmentation folder as `--data segfolder` reads it, drawn with Pillow: shapes on a
noisy background (0 background, 1 circle, 2 rectangle, 3 triangle), each shape outlined by a
band of 255 ("ignore", as Pascal VOC outlines its objects).

  make-segfolder.py OUT [--train N] [--val N] [--size S] [--seed K] [--mismatch]

Images alternate RGB PNG, RGB JPEG and greyscale PNG; masks alternate plain greyscale ("L")
and palette ("P", VOC's colours) PNGs, so every kind is read. --mismatch adds to train/ one
mask whose size differs from its image, one image without a mask and one mask without an
image, for the error and --bad-samples skip tests."""
import argparse
import os
import random

from PIL import Image, ImageDraw


def voc_palette():
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def sample(rng, size):
    image = Image.new("RGB", (size, size))
    image.putdata([tuple(rng.randrange(96, 160) for _ in range(3)) for _ in range(size * size)])
    mask = Image.new("L", (size, size), 0)
    draw_image, draw_mask = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randint(1, 3)
        cx, cy = size * rng.uniform(0.2, 0.8), size * rng.uniform(0.2, 0.8)
        r = size * rng.uniform(0.08, 0.25)
        colour = tuple(rng.choice([rng.randrange(0, 60), rng.randrange(200, 256)]) for _ in range(3))
        if kind == 1:
            box = [cx - r, cy - r, cx + r, cy + r]
            draw_image.ellipse(box, fill=colour)
            draw_mask.ellipse(box, fill=kind, outline=255, width=1)
        elif kind == 2:
            box = [cx - r, cy - 0.7 * r, cx + r, cy + 0.7 * r]
            draw_image.rectangle(box, fill=colour)
            draw_mask.rectangle(box, fill=kind, outline=255, width=1)
        else:
            points = [(cx, cy - r), (cx - 1.2 * r, cy + 0.7 * r), (cx + 1.2 * r, cy + 0.7 * r)]
            draw_image.polygon(points, fill=colour)
            draw_mask.polygon(points, fill=kind, outline=255)
    return image, mask


def write(out, split, index, image, mask):
    stem = f"{split}-{index:05d}"
    kind = index % 3
    if kind == 0:
        image.save(f"{out}/{split}/images/{stem}.png")
    elif kind == 1:
        image.save(f"{out}/{split}/images/{stem}.jpg", quality=95)
    else:
        image.convert("L").save(f"{out}/{split}/images/{stem}.png")
    if index % 2 == 0:
        mask.save(f"{out}/{split}/masks/{stem}.png")
    else:
        palette = mask.convert("P")
        palette.putpalette(voc_palette())
        palette.save(f"{out}/{split}/masks/{stem}.png")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=24)
    parser.add_argument("--val", type=int, default=8)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mismatch", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for split, count in (("train", args.train), ("val", args.val)):
        os.makedirs(f"{args.out}/{split}/images", exist_ok=True)
        os.makedirs(f"{args.out}/{split}/masks", exist_ok=True)
        for i in range(count):
            write(args.out, split, i, *sample(rng, args.size))
    if args.mismatch:
        image, mask = sample(rng, args.size)
        image.save(f"{args.out}/train/images/bad-size.png")
        mask.resize((args.size // 2, args.size // 2), Image.NEAREST).save(f"{args.out}/train/masks/bad-size.png")
        image.save(f"{args.out}/train/images/no-mask.png")
        mask.save(f"{args.out}/train/masks/no-image.png")


if __name__ == "__main__":
    main()
